/// Stable percentage buckets for feature-flag rollouts: a user is in the canary when
/// `bucket(flag, user) < percent`.
///
/// The bucket is FNV-1a (64-bit) of `"FLAG:USER"`, modulo 100: the same on every machine
/// and in every language that implements FNV-1a, so applications reading the flag file
/// can compute it themselves. Raising the percentage only adds users; nobody who was in
/// the canary leaves it.
public enum FlagBucket {
    public static func bucket(flag: String, user: String) -> Int {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in "\(flag):\(user)".utf8 {
            h ^= UInt64(b)
            h = h &* 0x0000_0100_0000_01B3
        }
        return Int(h % 100)
    }

    public static func isInCanary(flag: String, user: String, percent: Int) -> Bool {
        bucket(flag: flag, user: user) < percent
    }

    /// With several versions (`split` in order, summing to 100): the first version whose
    /// running total is above the user's bucket. Nil when the split sums to less than the bucket.
    public static func version(flag: String, user: String, split: [VersionWeight]) -> String? {
        let b = bucket(flag: flag, user: user)
        var total = 0
        for w in split {
            total += w.percent
            if b < total { return w.version }
        }
        return nil
    }
}
