import CNI

/// A CNI plugin: what it does per verb. The skeleton handles everything around it (environment,
/// validation, version gates, printing results and errors).
public protocol Plugin: Sendable {
    /// The text printed when the plugin is run without CNI_COMMAND.
    var about: String { get }
    var supportedVersions: [CNIVersion] { get }
    func add(_ request: PluginRequest) throws -> CNIResult
    func del(_ request: PluginRequest) throws
    func check(_ request: PluginRequest) throws
    /// Throws CNIError 50/51 when the plugin cannot take ADDs now.
    func status(_ request: PluginRequest) throws
    func gc(_ request: PluginRequest) throws
}

extension Plugin {
    public var supportedVersions: [CNIVersion] { CNIVersion.allCases }
    public func status(_ request: PluginRequest) throws {}
    public func gc(_ request: PluginRequest) throws {}
}

/// A plugin whose STATUS and GC are its IPAM delegate's (main plugins with an `ipam` section).
public protocol DelegatesIPAM: Plugin {
    var delegate: Delegate { get }
}

extension DelegatesIPAM {
    public func status(_ request: PluginRequest) throws {
        if let ipam = request.config.ipamType { try delegate.status(ipam, request) }
    }

    public func gc(_ request: PluginRequest) throws {
        if let ipam = request.config.ipamType { try delegate.gc(ipam, request) }
    }
}
