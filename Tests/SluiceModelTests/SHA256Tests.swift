import XCTest
@testable import SluiceModel

/// Known answers from FIPS 180-4 examples and Python's hashlib (padding boundaries 55/56/63/64/119 bytes).
final class SHA256Tests: XCTestCase {
    func testKnownVectors() {
        let cases: [(String, [UInt8])] = [
            ("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", []),
            ("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", Array("abc".utf8)),
            ("248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
             Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)),
            ("cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1",
             Array(("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqr"
                 + "lmnopqrsmnopqrstnopqrstu").utf8)),
            ("9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318", Array(repeating: 0x61, count: 55)),
            ("b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a", Array(repeating: 0x61, count: 56)),
            ("7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34", Array(repeating: 0x61, count: 63)),
            ("ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb", Array(repeating: 0x61, count: 64)),
            ("31eba51c313a5c08226adf18d4a359cfdfd8d2e816b13f4af952f7ea6584dcfb", Array(repeating: 0x61, count: 119)),
            ("785b0751fc2c53dc14a4ce3d800e69ef9ce1009eb327ccf458afe09c242c26c9",
             Array(repeating: Array(0...255) as [UInt8], count: 4).flatMap { $0 }),
        ]
        for (expected, input) in cases {
            XCTAssertEqual(SHA256.hex(input), expected, "\(input.count) bytes")
        }
    }

    func testMillionAs() {
        XCTAssertEqual(SHA256.hex(Array(repeating: UInt8(0x61), count: 1_000_000)),
                       "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    func testContentHashOfLoadedModel() throws {
        let data = XGBoostLoaderTests.model()
        let model = try LoadedModel.load(data: data)
        XCTAssertEqual(model.contentHash, SHA256.hex([UInt8](data)))
        XCTAssertTrue(model.contentHash.allSatisfy { "0123456789abcdef".contains($0) })
    }
}
