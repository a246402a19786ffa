import Foundation
import SluiceModel
import XCTest

/// The committed demo model (models/returns-fraud.json, trained by scripts/models/train_demo_model.py)
/// against XGBoost's own inplace_predict on 3,000 feature rows, 300 of them planted on split thresholds.
final class DemoModelParityTests: XCTestCase {
    func testDemoModelMatchesXGBoostOnCommittedRows() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let model = try LoadedModel.load(contentsOf: root.appendingPathComponent("models/returns-fraud.json"))
        let input = try Fixtures.csv("demo_input.csv")
        let expected = try Fixtures.csv("demo_expected.csv")
        XCTAssertEqual(input.header, model.featureNames)
        XCTAssertGreaterThanOrEqual(input.rows.count, 1000)
        XCTAssertEqual(input.rows.count, expected.rows.count)
        let probColumn = try XCTUnwrap(expected.header.firstIndex(of: "prob"))
        let marginColumn = try XCTUnwrap(expected.header.firstIndex(of: "margin"))
        var worstProb = 0.0
        for (row, values) in input.rows.enumerated() {
            let prediction = try model.predict(row: values)
            let (margin, prob) = (prediction.margin, prediction.output)
            worstProb = max(worstProb, abs(prob - expected.rows[row][probColumn]))
            XCTAssertEqual(margin, expected.rows[row][marginColumn], accuracy: 1e-5, "row \(row)")
        }
        XCTAssertLessThanOrEqual(worstProb, 1e-6)
    }
}
