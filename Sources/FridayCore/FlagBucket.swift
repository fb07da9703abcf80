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

    /// The buckets of a split of several versions, as segments in bucket order (a version may
    /// have more than one), for a flag file: candidate k of K owns a lane of buckets
    /// [k·100/K, (k+1)·100/K) and fills it from its start; a share larger than its lane takes
    /// free buckets from the top down; the baseline has every bucket left.
    ///
    /// So a user never leaves a candidate whose share did not fall (its lane only grows from
    /// its start), and a candidate taken out gives its own users back (to the baseline, or to
    /// the one whose share grew into its lane) without moving the others' users. With all
    /// the candidates in one contiguous run instead, taking one out shifted the next one's
    /// run and sent that healthy candidate's users to the baseline.
    public static func layout(_ split: [VersionWeight], candidates: [String], baseline: String) -> [VersionWeight] {
        var owner = [String?](repeating: nil, count: 100)
        let k = max(1, candidates.count)
        var overflow: [(String, Int)] = []
        for (i, c) in candidates.enumerated() {
            let share = max(0, min(100, split.first { $0.version == c }?.percent ?? 0))
            let start = i * 100 / k, size = (i + 1) * 100 / k - start
            let inLane = min(share, size)
            for b in start..<(start + inLane) { owner[b] = c }
            if share > inLane { overflow.append((c, share - inLane)) }
        }
        for (c, extra) in overflow {
            var left = extra
            for b in stride(from: 99, through: 0, by: -1) where left > 0 && owner[b] == nil { owner[b] = c; left -= 1 }
        }
        var out: [VersionWeight] = []
        for o in owner {
            let v = o ?? baseline
            if out.last?.version == v { out[out.count - 1].percent += 1 } else { out.append(VersionWeight(version: v, percent: 1)) }
        }
        return out
    }

    /// With several versions (`split`, segments in bucket order summing to 100; a version may
    /// appear more than once): the version of the segment that holds the user's bucket, the
    /// first whose running total is above it. Nil when the split sums to less than the bucket.
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
