import Foundation

/// The calls the event log makes to put its bytes on disk, so a test can count them or make
/// them fail (a disk that refuses `fdatasync` with EIO, say) without a real faulty disk.
/// Each returns what the system call returns and leaves `errno` set on failure.
public protocol LogFileSystem: Sendable {
    func write(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Int
    /// `fdatasync`: the file's data (and its size) on disk.
    func dataSync(_ fd: Int32) -> Int32
    /// `fsync`: data and metadata, used for new files, directories and the snapshot.
    func fullSync(_ fd: Int32) -> Int32
}

/// The real calls.
public struct SystemFileSystem: LogFileSystem {
    public init() {}
    public func write(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Int { Glibc.write(fd, bytes.baseAddress, bytes.count) }
    public func dataSync(_ fd: Int32) -> Int32 { fdatasync(fd) }
    public func fullSync(_ fd: Int32) -> Int32 { fsync(fd) }
}
