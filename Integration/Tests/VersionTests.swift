import Basics
import Foundation
import Testing
import TestSupport

/// Every executable says the project's version, from its one place (Sources/Basics/Version.swift).
@Suite struct VersionTests {
    @Test(arguments: ["macvlan", "ipvlan", "bridge", "host-device", "route-override", "host-local", "static", "multus", "egress-router", "whereabouts", "dhcp"])
    func pluginsSayTheirVersionWithoutCNICommand(plugin: String) throws {
        let out = try Command.run([BuildProducts.path(plugin)], env: [:])
        #expect(out.status == 0 && out.stdout.isEmpty)
        #expect(out.stderr.contains("(swift-cni \(SwiftCNI.version))\nCNI protocol versions supported: "), "\(out.stderr)")
    }

    @Test(arguments: ["cnitool", "swift-cni-install"])
    func toolsSayTheirVersion(tool: String) throws {
        let out = try Command.run([BuildProducts.path(tool), "--version"], env: [:])
        #expect(out.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == SwiftCNI.version)
    }

    @Test func theDHCPDaemonSaysItsVersion() throws {
        let out = try Command.run([BuildProducts.path("dhcp"), "daemon", "--version"], env: [:])
        #expect(out.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == SwiftCNI.version)
    }
}
