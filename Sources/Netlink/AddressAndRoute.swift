import IPAddressing

/// An address on a link, as the kernel reports it.
public struct LinkAddress: Sendable, Equatable {
    public var index: Int32
    public var prefix: IPPrefix
    public var flags: UInt32
    public var scope: UInt8

    public var isTentative: Bool { flags & 0x40 != 0 }   // IFA_F_TENTATIVE
    public var dadFailed: Bool { flags & 0x08 != 0 }     // IFA_F_DADFAILED
}

/// A route, as given to the kernel or read from it.
public struct Route: Sendable, Equatable {
    public struct NextHop: Sendable, Equatable {
        public var gateway: IPAddress?
        public var linkIndex: Int32
        public var weight: UInt8
        public init(gateway: IPAddress?, linkIndex: Int32, weight: UInt8 = 1) {
            (self.gateway, self.linkIndex, self.weight) = (gateway, linkIndex, weight)
        }
    }

    /// RT_TABLE_MAIN: where routes go unless a result names a table.
    public static let mainTable: UInt32 = 254
    /// RT_SCOPE_UNIVERSE: a route through a gateway.
    public static let scopeUniverse: UInt8 = 0
    /// RT_SCOPE_LINK: a destination reached directly on the link.
    public static let scopeLink: UInt8 = 253

    public var destination: IPPrefix
    public var gateway: IPAddress?
    public var linkIndex: Int32
    public var priority: UInt32
    public var table: UInt32
    public var scope: UInt8
    /// ECMP next hops; when set, `gateway` and `linkIndex` are not used.
    public var multipath: [NextHop]

    public init(destination: IPPrefix, gateway: IPAddress? = nil, linkIndex: Int32, priority: UInt32 = 0,
                table: UInt32 = Route.mainTable, scope: UInt8 = Route.scopeUniverse, multipath: [NextHop] = []) {
        (self.destination, self.gateway, self.linkIndex, self.priority) = (destination, gateway, linkIndex, priority)
        (self.table, self.scope, self.multipath) = (table, scope, multipath)
    }
}
