import Foundation

/// Runs the `switchyard` CLI built beside the tests, with the test servers' environment.
enum CLI {
    struct Failed: Error, CustomStringConvertible {
        var arguments: [String]
        var status: Int32
        var output: String
        var description: String { "switchyard \(arguments.joined(separator: " ")) exited \(status): \(output)" }
    }

    static func run(_ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = TestEnvironment.executable("switchyard")
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        guard process.terminationStatus == 0 else { throw Failed(arguments: arguments, status: process.terminationStatus, output: text) }
        return text
    }
}
