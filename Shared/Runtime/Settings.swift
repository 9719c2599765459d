import Configuration
import Contracts
import Foundation

/// An error in what the operator configured (a variable, a file it names): the process stops at
/// start with exit status 78 (EX_CONFIG) and the message, rather than as a crash.
public protocol ConfigurationProblem: Error, CustomStringConvertible {}

/// A setting that is missing or cannot be used, naming its environment variable.
public struct ConfigError: ConfigurationProblem, Equatable {
    public var variable: String
    public var reason: String

    public init(variable: String, reason: String) {
        self.variable = variable
        self.reason = reason
    }

    public var description: String { "\(variable): \(reason)" }
}

/// Reads settings from environment variables and, when `SWITCHYARD_CONFIG_FILE` names one, from
/// a file of `NAME=value` lines (the environment wins). Every read names the variable, so a bad
/// value stops the service at start with a message an operator can act on. Values are never
/// echoed: they may be secrets.
public struct Settings: Sendable {
    let reader: ConfigReader

    public static func load(environment: [String: String] = ProcessInfo.processInfo.environment) async throws -> Settings {
        var providers: [any ConfigProvider] = [EnvironmentVariablesProvider(environmentVariables: environment)]
        if let file = environment["SWITCHYARD_CONFIG_FILE"], !file.isEmpty {
            do {
                providers.append(try await EnvironmentVariablesProvider(environmentFilePath: .init(file)))
            } catch {
                throw ConfigError(variable: "SWITCHYARD_CONFIG_FILE", reason: "cannot read \(file): \(error)")
            }
        }
        return Settings(reader: ConfigReader(providers: providers))
    }

    /// The value of `variable`, or nil when it is unset or empty.
    public func string(_ variable: String) -> String? {
        guard let value = reader.string(forKey: Self.key(variable)), !value.isEmpty else { return nil }
        return value
    }

    public func required(_ variable: String) throws(ConfigError) -> String {
        guard let value = string(variable) else { throw ConfigError(variable: variable, reason: "is required") }
        return value
    }

    /// A secret, or nil when unset; refused when shorter than 32 bytes.
    public func secret(_ variable: String) throws(ConfigError) -> Secret<String>? {
        guard let value = string(variable) else { return nil }
        guard value.utf8.count >= 32 else { throw ConfigError(variable: variable, reason: "must be at least 32 characters") }
        return Secret(value)
    }

    public func integer(_ variable: String, default fallback: Int, in range: ClosedRange<Int>) throws(ConfigError) -> Int {
        guard let text = string(variable) else { return fallback }
        guard let value = Int(text), range.contains(value) else {
            throw ConfigError(variable: variable, reason: "must be a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        return value
    }

    public func port(_ variable: String, default fallback: Int) throws(ConfigError) -> Int {
        try integer(variable, default: fallback, in: 0...65535)
    }

    /// A duration written as `250ms`, `30s` or `5m`.
    public func duration(_ variable: String, default fallback: Duration) throws(ConfigError) -> Duration {
        guard let text = string(variable) else { return fallback }
        let units: [(String, (Int64) -> Duration)] = [("ms", { .milliseconds($0) }), ("s", { .seconds($0) }), ("m", { .seconds($0 * 60) })]
        for (suffix, make) in units where text.hasSuffix(suffix) {
            if let value = Int64(text.dropLast(suffix.count)), value >= 0 { return make(value) }
        }
        throw ConfigError(variable: variable, reason: "must be a duration such as 250ms, 30s or 5m")
    }

    public func choice<T: RawRepresentable & CaseIterable>(_ variable: String, default fallback: T) throws(ConfigError) -> T where T.RawValue == String {
        guard let text = string(variable) else { return fallback }
        guard let value = T(rawValue: text.lowercased()) else {
            throw ConfigError(variable: variable, reason: "must be one of \(T.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return value
    }

    /// `DATABASE_URL` is read under the key `database.url`, which the environment provider
    /// spells back as `DATABASE_URL`.
    static func key(_ variable: String) -> ConfigKey {
        ConfigKey(variable.lowercased().split(separator: "_").map(String.init))
    }
}

/// A value that prints as `***`, for URLs with passwords and tokens.
public struct Secret<Value: Sendable>: Sendable, CustomStringConvertible {
    public let value: Value
    public init(_ value: Value) { self.value = value }
    public var description: String { "***" }
}
