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

/// Runs a program to its end without blocking the cooperative pool; its output (stdout and
/// stderr together) goes through a file, not a pipe, so a chatty child cannot stall on a full pipe.
func runProcess(_ executable: URL, arguments: [String], environment: [String: String]) async throws -> (status: Int32, output: String) {
    let log = FileManager.default.temporaryDirectory.appendingPathComponent("process-\(UUID().uuidString).log")
    defer { try? FileManager.default.removeItem(at: log) }
    FileManager.default.createFile(atPath: log.path, contents: nil)
    let output = try FileHandle(forWritingTo: log)
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    process.environment = environment
    process.standardOutput = output
    process.standardError = output
    try process.run()
    await withCheckedContinuation { continuation in
        DispatchQueue.global().async {
            process.waitUntilExit()
            continuation.resume()
        }
    }
    try output.close()
    return (process.terminationStatus, try String(contentsOf: log, encoding: .utf8))
}
