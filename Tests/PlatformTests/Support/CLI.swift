import Foundation

/// Runs the `switchyard` CLI built beside the tests, with the test servers' environment.
enum CLI {
    struct Failed: Error, CustomStringConvertible {
        var arguments: [String]
        var status: Int32
        var output: String
        var description: String { "switchyard \(arguments.joined(separator: " ")) exited \(status): \(output)" }
    }

    /// `environment` adds to or replaces the test servers' variables.
    static func run(_ arguments: [String], environment: [String: String] = [:]) async throws -> String {
        let variables = TestEnvironment.variables.merging(environment) { _, new in new }
        let (status, output) = try await runProcess(TestEnvironment.executable("switchyard"), arguments: arguments, environment: variables)
        guard status == 0 else { throw Failed(arguments: arguments, status: status, output: output) }
        return output
    }
}

/// Runs a program to its end without blocking the cooperative pool; its output (stdout and
/// stderr together) goes through a file, not a pipe, so a chatty child cannot stall on a full pipe.
func runProcess(_ executable: URL, arguments: [String], environment: [String: String]) async throws -> (status: Int32, output: String) {
    let log = FileManager.default.temporaryDirectory.appendingPathComponent("process-\(UUID().uuidString).log")
    defer { try? FileManager.default.removeItem(at: log) }
    _ = FileManager.default.createFile(atPath: log.path, contents: nil)
    let output = try FileHandle(forWritingTo: log)
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    process.environment = environment
    // Tools that leave caches where they run (schemathesis) leave them outside the repository.
    process.currentDirectoryURL = FileManager.default.temporaryDirectory
    process.standardOutput = output
    process.standardError = output
    try process.run()
    // Polled, not `waitUntilExit()`, which blocks a thread and never returns when Foundation
    // misses the child's exit; a child that exited but was not reaped is reaped here.
    var status: Int32?
    while process.isRunning {
        if isZombie(process.processIdentifier) {
            try await Task.sleep(for: .seconds(1))  // Foundation's own reaping, normally
            var raw: Int32 = 0
            if process.isRunning, waitpid(process.processIdentifier, &raw, WNOHANG) == process.processIdentifier {
                status = (raw >> 8) & 0xFF
                break
            }
        }
        try await Task.sleep(for: .milliseconds(50))
    }
    try output.close()
    return (status ?? process.terminationStatus, try String(contentsOf: log, encoding: .utf8))
}
