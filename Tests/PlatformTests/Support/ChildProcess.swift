import Foundation
import Synchronization

/// A process the test started, killed when the test no longer needs it.
final class ChildProcess: @unchecked Sendable {
    let process = Process()
    let name: String

    /// A product built beside the tests, by name.
    convenience init(_ executable: String, arguments: [String] = [], environment extra: [String: String] = [:], log: URL? = nil) throws {
        try self.init(absolutePath: TestEnvironment.executable(executable).path, arguments: arguments, environment: extra, log: log)
    }

    init(absolutePath: String, arguments: [String] = [], environment extra: [String: String] = [:], log: URL? = nil) throws {
        name = URL(fileURLWithPath: absolutePath).lastPathComponent
        process.executableURL = URL(fileURLWithPath: absolutePath)
        process.arguments = arguments
        process.environment = TestEnvironment.variables.merging(extra) { _, new in new }
        if let log {
            _ = FileManager.default.createFile(atPath: log.path, contents: nil)
            let handle = try FileHandle(forWritingTo: log)
            process.standardOutput = handle
            process.standardError = handle
        } else {
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
        }
        try process.run()
    }

    var isRunning: Bool { process.isRunning }

    /// Sends SIGKILL and waits (five seconds at most) until it is gone. Not `waitUntilExit()`:
    /// it spins a run loop on the calling thread, which here is one of the few threads of the
    /// cooperative pool, and it never returns when Foundation misses the child's exit.
    func kill() {
        if process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL) }
        for _ in 0..<500 where process.isRunning && !isZombie(process.processIdentifier) {
            usleep(10_000)
        }
    }

    /// Stops it where it is (SIGSTOP), as a hung server would be, until `resume()`.
    func pause() {
        if process.isRunning { Foundation.kill(process.processIdentifier, SIGSTOP) }
    }

    func resume() {
        if process.isRunning { Foundation.kill(process.processIdentifier, SIGCONT) }
    }

    /// Sends SIGTERM and returns the exit status once it has exited.
    func terminate() async -> Int32 {
        if process.isRunning { Foundation.kill(process.processIdentifier, SIGTERM) }
        while process.isRunning { try? await Task.sleep(for: .milliseconds(20)) }
        return process.terminationStatus
    }

    deinit {
        if process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL) }
    }
}

/// Whether the process has exited and waits to be reaped: it is not running any more, even if
/// `Process.isRunning` has not noticed yet.
func isZombie(_ pid: Int32) -> Bool {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let afterName = stat.range(of: ") ", options: .backwards) else { return true }
    return stat[afterName.upperBound...].first == "Z"
}

/// A TCP port nobody listens on now, for a server a test starts. Ports are handed out in turn
/// from below the kernel's ephemeral range (32768 and up), so no two calls of this process get
/// the same one, and another test's outgoing connection cannot take it before the server binds.
func freePort() -> Int {
    while true {
        let port = 20_000 + Int(nextFreePort.wrappingAdd(1, ordering: .relaxed).oldValue % 12_000)
        if canBind(port) { return port }
    }
}

private let nextFreePort = Atomic<UInt64>(UInt64.random(in: 0..<12_000))

private func canBind(_ port: Int) -> Bool {
    let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(socket) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = UInt16(port).bigEndian
    return withUnsafePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
    }
}

/// Whether something accepts TCP connections on the port.
func isListening(port: Int) -> Bool {
    let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(socket) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = UInt16(port).bigEndian
    return withUnsafePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
        }
    }
}

/// Runs a script of the repository and returns its standard output.
///
/// Through `system(3)` and a file rather than `Process` and a pipe: the script starts servers
/// that inherit its descriptors and outlive it, and `Process` then waits for them too.
func runScript(_ path: String, _ arguments: [String]) throws -> String {
    let outputFile = FileManager.default.temporaryDirectory.appendingPathComponent("switchyard-script-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: outputFile) }
    let words = ["/bin/bash", TestEnvironment.root.appendingPathComponent(path).path] + arguments
    let command = words.map(shellQuoted).joined(separator: " ") + " >" + shellQuoted(outputFile.path) + " </dev/null"
    let status = system(command)
    let output = (try? String(contentsOf: outputFile, encoding: .utf8)) ?? ""
    guard status == 0 else { throw CLI.Failed(arguments: [path] + arguments, status: status, output: output) }
    return output
}

private func shellQuoted(_ word: String) -> String {
    "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
}

/// A NATS server of the test's own, which it may stop and start again.
struct PrivateNATSServer {
    var port = freePort()
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("switchyard-nats-\(UUID().uuidString)")
    var url: String { "nats://127.0.0.1:\(port)" }

    /// nats-server's own options beyond address and JetStream, e.g. `--user`.
    var arguments: [String] = []

    func start() throws -> ChildProcess {
        try ChildProcess(absolutePath: TestEnvironment.require("NATS_SERVER"), arguments: [
            "-a", "127.0.0.1", "-p", String(port), "-js", "-sd", directory.path,
        ] + arguments)
    }

    /// Starts a server and waits until it accepts connections. Another test may have taken the
    /// port between `freePort()` and the server's bind: then the server exits and it tries a
    /// new port.
    static func started(arguments: [String] = []) async throws -> (PrivateNATSServer, ChildProcess) {
        for _ in 0..<5 {
            let server = PrivateNATSServer(arguments: arguments)
            let process = try server.start()
            let ready = try await eventually(timeout: .seconds(10)) { !process.isRunning || isListening(port: server.port) }
            if ready && process.isRunning {
                try await Task.sleep(for: .milliseconds(50))  // JetStream starts just after the listener
                if process.isRunning { return (server, process) }
            }
            process.kill()
        }
        throw CLI.Failed(arguments: ["nats-server"], status: -1, output: "no private NATS server would start")
    }

    /// Runs `body` with a server of its own, then stops it (resumed first, should the test have
    /// paused it) and removes its files.
    static func running<T>(arguments: [String] = [], _ body: (PrivateNATSServer, ChildProcess) async throws -> T) async throws -> T {
        let (server, process) = try await started(arguments: arguments)
        defer {
            process.resume()
            process.kill()
            try? FileManager.default.removeItem(at: server.directory)
        }
        return try await body(server, process)
    }
}
