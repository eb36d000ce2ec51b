import IPAddressing
import Testing

@Suite struct IPAddressTests {
    @Test(arguments: [
        ("10.1.2.3", "10.1.2.3"), ("0.0.0.0", "0.0.0.0"), ("255.255.255.255", "255.255.255.255"),
        ("2001:DB8::1", "2001:db8::1"), ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"), ("::", "::"),
        ("::1", "::1"), ("1::", "1::"), ("fe80:0:0:0:0:0:0:1", "fe80::1"), ("1:0:2:0:3:0:4:0", "1:0:2:0:3:0:4:0"),
        ("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"), ("::ffff:10.0.0.1", "::ffff:10.0.0.1"),
        ("1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:6:102:304"), ("0:0:1:0:0:0:0:1", "0:0:1::1"),
    ])
    func canonicalText(input: String, output: String) throws {
        #expect(try #require(IPAddress(input)).description == output)
    }

    @Test(arguments: ["", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.1.1.1", "1.2.3.4 ", "a.b.c.d", ":::", "1:2:3:4:5:6:7:8:9",
                      "1::2::3", "12345::", "g::", "1:2:3:4:5:6:7", ":1:2:3:4:5:6:7", "1.2.3.4::"])
    func rejects(input: String) {
        #expect(IPAddress(input) == nil)
    }

    @Test func bytesRoundTrip() throws {
        let a = try #require(IPAddress("2001:db8::ff"))
        #expect(IPAddress(bytes: a.bytes) == a)
        #expect(IPAddress("10.0.0.1")!.bytes == [10, 0, 0, 1])
    }

    @Test func arithmetic() throws {
        let a = try #require(IPAddress("10.0.0.255"))
        #expect(a.advanced(by: 1)?.description == "10.0.1.0")
        #expect(IPAddress("255.255.255.255")!.advanced(by: 1) == nil)
        #expect(IPAddress("0.0.0.0")!.retreated(by: 1) == nil)
        #expect(IPAddress("10.0.0.1")! < IPAddress("10.0.0.2")!)
        #expect(IPAddress("255.255.255.255")! < IPAddress("::")!)
    }
}

@Suite struct IPPrefixTests {
    @Test func math() throws {
        let p = try #require(IPPrefix("10.1.0.5/16"))
        #expect(p.description == "10.1.0.5/16")
        #expect(p.network.description == "10.1.0.0")
        #expect(p.last.description == "10.1.255.255")
        #expect(p.netmask.description == "255.255.0.0")
        #expect(p.hasHostBits)
        #expect(!p.masked.hasHostBits)
        #expect(p.contains(IPAddress("10.1.200.1")!))
        #expect(!p.contains(IPAddress("10.2.0.1")!))
        let v6 = try #require(IPPrefix("2001:db8::/64"))
        #expect(v6.last.description == "2001:db8::ffff:ffff:ffff:ffff")
        #expect(IPPrefix("0.0.0.0/0")!.contains(IPAddress("1.2.3.4")!))
        #expect(IPPrefix("::/0")!.last.description == "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")
        #expect(IPPrefix("10.0.0.0/8")!.overlaps(IPPrefix("10.5.0.0/16")!))
        #expect(!IPPrefix("10.0.0.0/24")!.overlaps(IPPrefix("10.0.1.0/24")!))
        #expect(IPPrefix("1.2.3.4/32")!.mask == 0xFFFF_FFFF)
        #expect(IPPrefix("::1/128")!.mask == UInt128.max)
    }

    @Test(arguments: ["10.0.0.0", "10.0.0.0/33", "::/129", "10.0.0.0/-1", "10.0.0.0/", "10.0.0.0/08", "x/8", "10.0.0.0/8/8"])
    func rejects(input: String) {
        #expect(IPPrefix(input) == nil)
    }
}

@Suite struct MACAddressTests {
    @Test func parseAndPrint() throws {
        #expect(try #require(MACAddress("0A:58:0a:01:00:05")).description == "0a:58:0a:01:00:05")
        #expect(MACAddress("0a-58-0a-01-00-05") != nil)
        #expect(MACAddress("0a:58:0a:01:00") == nil)
        #expect(MACAddress("0a:58-0a:01:00:05") == nil)
        #expect(MACAddress("01:00:5e:00:00:01")!.isMulticast)
    }
}
