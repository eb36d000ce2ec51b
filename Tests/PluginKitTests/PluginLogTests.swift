import Foundation
import PluginKit
import Testing
import TestSupport

@Suite struct PluginLogTests {
    @Test func levelsAndLines() throws {
        let d = try TemporaryDirectory("swcni-log")
        defer { d.remove() }
        let log = PluginLog(level: "verbose", file: d.file("m.log"))
        log.debug("hidden")
        log.verbose("Add net1")
        log.error("failed")
        let lines = try d.read("m.log").split(separator: "\n")
        #expect(lines.count == 2 && lines[0].hasSuffix("[verbose] Add net1") && lines[1].hasSuffix("[error] failed"))
    }

    /// multus's logOptions: past maxSize the file is renamed with its time; maxBackups are kept.
    @Test func rotationKeepsMaxBackups() throws {
        let d = try TemporaryDirectory("swcni-log")
        defer { d.remove() }
        let log = PluginLog(level: "debug", file: d.file("multus.log"), rotation: .init(maxSizeMB: 1, maxBackups: 2))
        let big = String(repeating: "x", count: 1_048_576)
        for i in 0..<4 {
            try d.write("multus.log", big)
            usleep(3_000)
            log.debug("line \(i)")
        }
        #expect(try d.read("multus.log").hasSuffix("[debug] line 3\n"))
        let backups = try FileManager.default.contentsOfDirectory(atPath: d.path).filter { $0 != "multus.log" }.sorted()
        #expect(backups.count == 2 && backups.allSatisfy { $0.hasPrefix("multus-") && $0.hasSuffix(".log") }, "\(backups)")
        // Below the limit nothing moves.
        log.debug("small")
        #expect(try FileManager.default.contentsOfDirectory(atPath: d.path).count == 3)
    }
}
