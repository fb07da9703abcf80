import FridayCore
import XCTest

final class FlagBucketTests: XCTestCase {
    func testBucketsAreStableKnownValues() {
        // Worked out independently (FNV-1a 64 of "FLAG:USER", mod 100) in Python.
        XCTAssertEqual(FlagBucket.bucket(flag: "checkout-v2", user: "user-42"), 78)
        XCTAssertEqual(FlagBucket.bucket(flag: "checkout-v2", user: "user-7"), 65)
        XCTAssertEqual(FlagBucket.bucket(flag: "checkout-v2", user: "部署"), 36)
    }

    func testPercentagesSplitUsersEvenlyAndOnlyEverAddUsers() {
        var counts = [Int](repeating: 0, count: 100)
        for i in 0..<100_000 { counts[FlagBucket.bucket(flag: "f", user: "u\(i)")] += 1 }
        XCTAssertLessThan(counts.max()! - counts.min()!, 300, "about 1,000 users per bucket")
        let at5 = Set((0..<10_000).filter { FlagBucket.isInCanary(flag: "f", user: "u\($0)", percent: 5) })
        let at25 = Set((0..<10_000).filter { FlagBucket.isInCanary(flag: "f", user: "u\($0)", percent: 25) })
        XCTAssertTrue(at5.isSubset(of: at25))
        XCTAssertEqual(Double(at25.count) / 10_000, 0.25, accuracy: 0.02)
        XCTAssertFalse(FlagBucket.isInCanary(flag: "f", user: "anyone", percent: 0))
        XCTAssertTrue(FlagBucket.isInCanary(flag: "f", user: "anyone", percent: 100))
    }
}
