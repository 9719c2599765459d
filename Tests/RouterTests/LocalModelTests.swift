import Contracts
import RouterService
import Testing

@Suite struct LocalModelTests {
    let model = LocalModel()

    @Test func theSameConversationGetsTheSameReply() {
        let messages: [ChatMessage] = [.system("Be brief."), .user("What is a switchyard?")]
        let first = model.reply(to: messages, limit: nil)
        #expect(first.tokens == model.reply(to: messages, limit: nil).tokens)
        #expect(first.tokens != model.reply(to: [.user("Something else")], limit: nil).tokens)
        #expect(first.finishReason == "stop" && first.tokens.last?.hasSuffix(".") == true)
    }

    @Test func aLimitCutsTheReplyWithFinishReasonLength() {
        let reply = model.reply(to: [.user("Tell me everything.")], limit: 5)
        #expect(reply.tokens.count == 5 && reply.finishReason == "length")
    }

    @Test func promptTokensCountWordsPunctuationAndMessageFraming() {
        #expect(LocalTokenizer.count("Hi there!") == 4)  // "Hi", "ther" "e", "!"
        #expect(LocalTokenizer.count("internationalization") == 5)  // 20 characters / 4
        #expect(LocalTokenizer.count("") == 0)
        #expect(model.promptTokens([.user("Hi there!")]) == 3 + 3 + 4)
    }

    /// ASCII text is counted byte by byte; anything else by characters. Both must agree: text
    /// followed by a space and one letter is counted by characters, and the space ends the
    /// text's last word, so its count is the ASCII count plus one.
    @Test func asciiIsCountedAsCharactersAre() {
        var generator = SplitMix64(seed: 7)
        for _ in 0..<2_000 {
            let length = Int(generator.next() % 40)
            let text = String(decoding: (0..<length).map { _ in UInt8(generator.next() % 128) }, as: UTF8.self)
            #expect(LocalTokenizer.count(text) + 1 == LocalTokenizer.count(text + " é"), "\(Array(text.utf8))")
        }
    }

    @Test func embeddingsAreUnitVectorsThatKeepSimilarTextsClose() {
        let a = model.embedding(of: "budgets stay exact")
        let b = model.embedding(of: "exact budgets stay exact")
        let c = model.embedding(of: "offline demos run here")
        func dot(_ x: [Float], _ y: [Float]) -> Float { zip(x, y).reduce(0) { $0 + $1.0 * $1.1 } }
        #expect(a.count == LocalModel.embeddingDimensions)
        #expect(abs(dot(a, a) - 1) < 1e-5)
        #expect(dot(a, b) > dot(a, c))
        #expect(a == model.embedding(of: "budgets stay exact"))
    }
}
