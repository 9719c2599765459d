import Foundation
import SwitchyardRuntime

/// A chart drawn on the server as SVG: one or more series of values over the same labelled
/// points, as bars (the first series) or lines. Sized in the SVG's own units; the page scales it.
public struct SVGChart: Sendable {
    public enum Style: Sendable { case bars, lines }

    public struct Series: Sendable {
        public var name: String
        public var color: String
        public var values: [Int64]

        public init(name: String, color: String, values: [Int64]) {
            self.name = name
            self.color = color
            self.values = values
        }
    }

    public var title: String
    public var labels: [String]
    public var series: [Series]
    public var style: Style
    /// How a value is written on the axis, e.g. micro-USD as dollars.
    public var format: @Sendable (Int64) -> String

    public init(title: String, labels: [String], series: [Series], style: Style, format: @escaping @Sendable (Int64) -> String = { "\($0)" }) {
        self.title = title
        self.labels = labels
        self.series = series
        self.style = style
        self.format = format
    }

    static let (width, height) = (640.0, 220.0)
    static let (left, right, top, bottom) = (64.0, 12.0, 28.0, 36.0)

    public var svg: String {
        let plotWidth = Self.width - Self.left - Self.right
        let plotHeight = Self.height - Self.top - Self.bottom
        let highest = max(1, series.flatMap(\.values).max() ?? 1)
        let step = labels.isEmpty ? plotWidth : plotWidth / Double(labels.count)
        func x(_ index: Int) -> Double { Self.left + step * (Double(index) + 0.5) }
        func y(_ value: Int64) -> Double { Self.top + plotHeight * (1 - Double(value) / Double(highest)) }

        var parts = [
            #"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 \#(Int(Self.width)) \#(Int(Self.height))" role="img" aria-label="\#(HTML.escape(title))">"#,
            #"<text x="\#(Self.left)" y="18" class="chart-title">\#(HTML.escape(title))</text>"#,
            // The axes, and the highest value at the top of the y axis.
            #"<line x1="\#(Self.left)" y1="\#(Self.top)" x2="\#(Self.left)" y2="\#(Self.top + plotHeight)" class="axis"/>"#,
            #"<line x1="\#(Self.left)" y1="\#(Self.top + plotHeight)" x2="\#(Self.width - Self.right)" y2="\#(Self.top + plotHeight)" class="axis"/>"#,
            #"<text x="\#(Self.left - 6)" y="\#(Self.top + 4)" text-anchor="end" class="tick">\#(HTML.escape(format(highest)))</text>"#,
            #"<text x="\#(Self.left - 6)" y="\#(Self.top + plotHeight)" text-anchor="end" class="tick">\#(HTML.escape(format(0)))</text>"#,
        ]
        // Every label when they fit, otherwise every n-th.
        let every = max(1, Int((Double(labels.count) * 44 / plotWidth).rounded(.up)))
        for (index, label) in labels.enumerated() where index % every == 0 {
            parts.append(#"<text x="\#(x(index))" y="\#(Self.height - 14)" text-anchor="middle" class="tick">\#(HTML.escape(label))</text>"#)
        }
        for (number, line) in series.enumerated() {
            switch style {
            case .bars where number == 0:
                for (index, value) in line.values.enumerated() {
                    let top = y(value)
                    parts.append(#"<rect x="\#(x(index) - step * 0.35)" y="\#(top)" width="\#(step * 0.7)" height="\#(Self.top + plotHeight - top)" fill="\#(line.color)"><title>\#(HTML.escape(labels[index])): \#(HTML.escape(format(value)))</title></rect>"#)
                }
            default:
                let points = line.values.enumerated().map { "\(x($0.offset)),\(y($0.element))" }.joined(separator: " ")
                parts.append(#"<polyline points="\#(points)" fill="none" stroke="\#(line.color)" stroke-width="2"/>"#)
            }
            // The legend, right-aligned at the top.
            let legendX = Self.width - Self.right - Double(series.count - number) * 110
            parts.append(#"<rect x="\#(legendX)" y="8" width="10" height="10" fill="\#(line.color)"/>"#)
            parts.append(#"<text x="\#(legendX + 14)" y="17" class="tick">\#(HTML.escape(line.name))</text>"#)
        }
        parts.append("</svg>")
        return parts.joined(separator: "\n")
    }
}
