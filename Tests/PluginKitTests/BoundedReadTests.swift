import Foundation
import Glibc
import LinuxSystem
import Testing
import TestSupport

/// Files a config names (a kubeconfig, whereabouts' flat file, a resolv.conf, a delegate's conf)
/// are read with a bound: /dev/zero or a FIFO nobody writes must not hang a plugin or fill its
/// memory (seen while writing the config decoders' fuzz target, issue #18 item 4).
@Suite struct BoundedReadTests {
    @Test func aConfigNamedFileIsReadWithABound() throws {
        let dir = try TemporaryDirectory("swcni-read")
        defer { dir.remove() }
        try dir.write("small", "hello")
        #expect(try FileSystem.read(dir.file("small"), atMost: 16) == Array("hello".utf8))
        #expect((#expect(throws: SystemError.self) { try FileSystem.read("/dev/zero", atMost: 1 << 20) })?.errno == EFBIG)
        #expect(mkfifo(dir.file("fifo"), 0o600) == 0)
        #expect(try FileSystem.read(dir.file("fifo"), atMost: 1 << 20) == [])  // no writer: at once, empty
    }
}
