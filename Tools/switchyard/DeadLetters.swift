import ArgumentParser
import Contracts
import Foundation
import SwitchyardBus

struct DeadLetters: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dlq", abstract: "List, inspect, replay and purge dead letters.",
        subcommands: [List.self, Show.self, Replay.self, Purge.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One line per dead letter: sequence, consumer, subject, deliveries, error.")
        @Option(help: "Only this consumer's.") var consumer: String?
        @Option(help: "At most this many.") var limit = 100

        func run() async throws {
            let cli = try await Operator.make()
            let (consumer, limit) = (self.consumer, self.limit)
            let letters = try await cli.withBus { try await DeadLetterQueue(bus: $0).list(consumer: consumer, limit: limit) }
            for letter in letters {
                print("\(letter.sequence)\t\(letter.consumer)\t\(letter.originalSubject)\t\(letter.deliveries)\t\(letter.error)")
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Headers and payload of one dead letter.")
        @Argument(help: "Its sequence in the DLQ stream.") var sequence: UInt64

        func run() async throws {
            let cli = try await Operator.make()
            let sequence = self.sequence
            guard let letter = try await cli.withBus({ try await DeadLetterQueue(bus: $0).show(sequence) }) else {
                throw ValidationError("no dead letter \(sequence)")
            }
            print("sequence: \(letter.sequence)")
            print("subject: \(letter.originalSubject)")
            for (name, value) in letter.message.headers.sorted(by: { $0.key < $1.key }) { print("\(name): \(value)") }
            print("")
            print(String(decoding: letter.message.payload, as: UTF8.self))
        }
    }

    struct Replay: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Deliver a dead letter again to the consumer that failed it, and remove it from the DLQ.")
        @Argument(help: "Its sequence in the DLQ stream.") var sequence: UInt64

        func run() async throws {
            let cli = try await Operator.make()
            let sequence = self.sequence
            guard try await cli.withBus({ try await DeadLetterQueue(bus: $0).replay(sequence) }) else {
                throw ValidationError("no dead letter \(sequence)")
            }
            print("replayed \(sequence)")
        }
    }

    struct Purge: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove one dead letter, one consumer's, or all.")
        @Option(help: "Only this consumer's.") var consumer: String?
        @Option(help: "Only this one.") var sequence: UInt64?
        @Flag(help: "Required to remove every dead letter.") var all = false

        func run() async throws {
            let cli = try await Operator.make()
            let (consumer, sequence) = (self.consumer, self.sequence)
            guard consumer != nil || sequence != nil || all else {
                throw ValidationError("name --consumer, --sequence, or --all")
            }
            try await cli.withBus { bus in
                let queue = DeadLetterQueue(bus: bus)
                if let sequence {
                    guard try await queue.delete(sequence) else { throw ValidationError("no dead letter \(sequence)") }
                } else {
                    try await queue.purge(consumer: consumer)
                }
            }
            print("purged")
        }
    }
}
