import Foundation
import XCTest
@testable import SluiceModel

/// MLflow model directories: the committed fixture (Fixtures/mlflow_xgboost, written by
/// scripts/models/make_onnx_fixtures.py) and directories written by the tests.
final class MLflowModelTests: XCTestCase {
    private var scratch: URL!

    override func setUpWithError() throws {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-mlflow-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: scratch)
    }

    /// A directory `name` with `MLmodel` = `descriptor` and the given files (name → bytes).
    private func directory(_ name: String, descriptor: String?, files: [String: Data] = [:]) throws -> URL {
        let url = scratch.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        if let descriptor { try Data(descriptor.utf8).write(to: url.appendingPathComponent("MLmodel")) }
        for (file, data) in files {
            let target = url.appendingPathComponent(file)
            try FileManager.default.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
            try data.write(to: target)
        }
        return url
    }

    /// The fixture directory scores exactly like the model file it holds (and like XGBoost).
    func testFixtureDirectoryLoadsTheXGBoostModel() throws {
        let model = try LoadedModel.load(contentsOf: Fixtures.url("mlflow_xgboost"))
        let direct = try LoadedModel.load(contentsOf: Fixtures.url("xgb17_binary.json"))
        XCTAssertEqual(model.format, "xgboost-json")
        XCTAssertEqual(model.objective, .binaryLogistic)
        XCTAssertEqual(model.contentHash, direct.contentHash)
        XCTAssertEqual(model.ensemble, direct.ensemble)

        let input = try Fixtures.csv("xgb17_binary_input.csv")
        let expected = try Fixtures.csv("xgb17_binary_expected.csv").column("prob")
        XCTAssertEqual(input.rows.count, expected.count)
        for (row, values) in input.rows.enumerated() {
            XCTAssertEqual(try model.predict(row: values).output, expected[row], accuracy: 1e-6, "row \(row)")
        }
    }

    func testParsesTheFixtureDescriptor() throws {
        let text = String(decoding: try Fixtures.data("mlflow_xgboost/MLmodel"), as: UTF8.self)
        let descriptor = try MLflowModel.parse(text)
        XCTAssertEqual(descriptor.flavors.map(\.name), ["python_function", "xgboost"])
        XCTAssertEqual(descriptor.keys(of: "xgboost")?["data"], "model.json")
        XCTAssertEqual(descriptor.keys(of: "xgboost")?["model_format"], "json")
        XCTAssertEqual(descriptor.keys(of: "python_function")?["loader_module"], "mlflow.xgboost")
        XCTAssertNil(descriptor.keys(of: "python_function")?["conda"], "nested env keys are not flavor keys")
        XCTAssertEqual(try MLflowModel.modelFile(descriptor).flavor, "xgboost")
    }

    func testOnnxFlavorWithListsCommentsAndQuotes() throws {
        let onnx = try Fixtures.data("onnx_gb_multiclass.onnx")
        let url = try directory("onnx", descriptor: """
            # written by hand, in MLflow's layout
            artifact_path: model
            flavors:
              onnx:
                code: null
                data: "model.onnx"   # quoted, with a comment
                onnx_version: 1.23.2
                providers:
                - CUDAExecutionProvider
                - CPUExecutionProvider
              python_function:
                data: model.onnx
                env:
                  conda: conda.yaml
                loader_module: mlflow.onnx
            mlflow_version: 2.17.2
            signature:
              inputs: '[{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 12]}}]'
            """, files: ["model.onnx": onnx])
        let model = try LoadedModel.load(contentsOf: url)
        XCTAssertEqual(model.format, "onnx")
        XCTAssertEqual(model.objective, .multiclassSoftmax(classes: 3))
        XCTAssertEqual(model.contentHash, SHA256.hex([UInt8](onnx)))
    }

    func testFlowMappingAndPythonFunctionModelPath() throws {
        let json = try Fixtures.data("xgb17_reglogistic.json")
        let flow = try directory("flow", descriptor: "flavors: {xgboost: {data: model.json, model_format: json}}\n",
                                 files: ["model.json": json])
        XCTAssertEqual(try LoadedModel.load(contentsOf: flow).objective, .regressionLogistic)

        let flavorFlow = try directory("flavor-flow", descriptor: "flavors:\n  xgboost: {data: sub/model.json, xgb_version: '1.7.6'}\n",
                                       files: ["sub/model.json": json])
        XCTAssertEqual(try LoadedModel.load(contentsOf: flavorFlow).objective, .regressionLogistic)

        let pyfunc = try directory("pyfunc", descriptor: """
            flavors:
              python_function:
                loader_module: my.loader
                model_path: artifacts/booster.json
            """, files: ["artifacts/booster.json": json])
        XCTAssertEqual(try LoadedModel.load(contentsOf: pyfunc).format, "xgboost-json")
    }

    func testLightGBMFlavorRoutesByContent() throws {
        let text = try Fixtures.data("lgb_binary.txt")
        let url = try directory("lightgbm", descriptor: """
            flavors:
              lightgbm:
                code: null
                data: model.lgb
                lgb_version: 4.5.0
                model_class: lightgbm.basic.Booster
              python_function:
                data: model.lgb
                loader_module: mlflow.lightgbm
            """, files: ["model.lgb": text])
        let model = try LoadedModel.load(contentsOf: url)
        XCTAssertEqual(model.format, "lightgbm-text")
        XCTAssertEqual(model.contentHash, SHA256.hex([UInt8](text)))
    }

    func testNativeFlavorWinsOverPythonFunction() throws {
        let xgb = try Fixtures.data("xgb17_binary.json")
        let onnx = try Fixtures.data("onnx_hgb_binary.onnx")
        let url = try directory("both", descriptor: """
            flavors:
              python_function:
                data: model.onnx
              xgboost:
                data: model.json
            """, files: ["model.json": xgb, "model.onnx": onnx])
        XCTAssertEqual(try LoadedModel.load(contentsOf: url).format, "xgboost-json")
    }

    // MARK: - Errors

    func testMissingMLmodel() throws {
        let url = try directory("empty", descriptor: nil, files: ["model.json": Data("{}".utf8)])
        assertError(.fileUnreadable, url, containing: ["MLmodel", "not an MLflow model directory"])
    }

    func testUnsupportedFlavors() throws {
        let sklearn = try directory("sklearn", descriptor: """
            flavors:
              python_function:
                loader_module: mlflow.sklearn
                model_path: model.pkl
              sklearn:
                pickled_model: model.pkl
                serialization_format: cloudpickle
            """, files: ["model.pkl": Data([0x80, 0x04])])
        assertError(.unsupported, sklearn, containing: ["pickle", "model.pkl"])

        let other = try directory("pytorch", descriptor: """
            flavors:
              pytorch:
                model_data: data
            """)
        assertError(.unsupported, other, containing: ["no MLflow flavor Sluice can load", "pytorch"])

        let none = try directory("noflavors", descriptor: "artifact_path: model\n")
        assertError(.malformed, none, containing: ["no 'flavors:'"])
    }

    func testBadOrMissingModelFile() throws {
        let missing = try directory("missing", descriptor: "flavors:\n  lightgbm:\n    data: model.lgb\n")
        assertError(.fileUnreadable, missing, containing: ["lightgbm", "model.lgb", "does not exist"])

        let escaping = try directory("escape", descriptor: "flavors:\n  xgboost:\n    data: ../model.json\n")
        assertError(.malformed, escaping, containing: ["../model.json", "inside the model directory"])

        let absolute = try directory("absolute", descriptor: "flavors:\n  onnx:\n    data: /etc/passwd\n")
        assertError(.malformed, absolute, containing: ["/etc/passwd"])

        let isDirectory = try directory("dirdata", descriptor: "flavors:\n  onnx:\n    data: model\n",
                                        files: ["model/inner.onnx": Data([0x08, 0x08])])
        assertError(.unsupported, isDirectory, containing: ["a directory"])

        // The named file is loaded by content: a truncated ONNX file reports the loader's error with the flavor.
        let onnx = try Fixtures.data("onnx_gb_multiclass.onnx")
        let truncated = try directory("truncated", descriptor: "flavors:\n  onnx:\n    data: model.onnx\n",
                                      files: ["model.onnx": onnx.prefix(onnx.count / 2)])
        assertError(.malformed, truncated, containing: ["flavor 'onnx'", "model.onnx", "ONNX"])
    }
}
