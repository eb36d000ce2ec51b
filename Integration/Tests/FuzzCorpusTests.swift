import Foundation
import Testing
import TestSupport

/// The fuzzers' committed corpora replayed by a plain build on every test run (the libFuzzer
/// runs in Integration/Fuzz/run.sh start from them): the config decoders, CNI_ARGS and results
/// of every version (cni-fuzz-configs) must take each input without trapping.
@Suite struct FuzzCorpusTests {
    @Test func theConfigCorpusReplays() throws {
        let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fuzz/corpus/configs").path
        let files = try FileManager.default.contentsOfDirectory(atPath: corpus).sorted().map { corpus + "/" + $0 }
        #expect(files.count >= 20)
        let out = try Command.run([BuildProducts.path("cni-fuzz-configs")] + files, env: [:])
        #expect(out.status == 0 && out.stdout.contains("replayed \(files.count) inputs"), "\(out.stdout)\(out.stderr)")
    }
}
