import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Prometheus
import ServiceLifecycle

/// The operator's HTTP endpoint (docs/operations.md): `GET /metrics` (Prometheus text format
/// from the registry the process bootstrapped swift-metrics with), `GET /healthz` (the process
/// serves requests) and `GET /readyz` (200 only while `isReady` says so, e.g. partitions
/// assigned and Redis reachable; 503 otherwise).
///
/// A `Service`: runs until graceful shutdown closes the listening socket. Threading: handlers
/// run on SwiftNIO event loops and only read thread-safe state (the registry, `isReady`).
public final class OperationsServer: Service, Sendable {
    public let host: String
    public let port: Int
    private let registry: PrometheusCollectorRegistry
    private let isReady: @Sendable () -> Bool
    private let logger: Logger

    public init(host: String = "0.0.0.0", port: Int, registry: PrometheusCollectorRegistry,
                isReady: @escaping @Sendable () -> Bool, logger: Logger) {
        self.host = host
        self.port = port
        self.registry = registry
        self.isReady = isReady
        self.logger = logger
    }

    public func run() async throws {
        let routes = Routes(registry: registry, isReady: isReady)
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 64)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(HTTPHandler(routes: routes))
                }
            }
            .bind(host: host, port: port).get()
        logger.info("operations endpoint listening", metadata: ["address": "\(channel.localAddress.map { "\($0)" } ?? "?")"])
        try await withGracefulShutdownHandler {
            try await channel.closeFuture.get()
        } onGracefulShutdown: {
            channel.close(promise: nil)
        }
    }
}

/// What each path answers; pure apart from reading the registry.
struct Routes: Sendable {
    let registry: PrometheusCollectorRegistry
    let isReady: @Sendable () -> Bool

    func respond(method: HTTPMethod, path: String) -> (HTTPResponseStatus, String, [UInt8]) {
        guard method == .GET || method == .HEAD else { return (.methodNotAllowed, "text/plain", Array("GET only\n".utf8)) }
        switch path.split(separator: "?", maxSplits: 1).first.map(String.init) ?? path {
        case "/metrics":
            var buffer: [UInt8] = []
            buffer.reserveCapacity(16_384)
            registry.emit(into: &buffer)
            return (.ok, "text/plain; version=0.0.4; charset=utf-8", buffer)
        case "/healthz":
            return (.ok, "text/plain", Array("ok\n".utf8))
        case "/readyz":
            return isReady() ? (.ok, "text/plain", Array("ready\n".utf8)) : (.serviceUnavailable, "text/plain", Array("not ready\n".utf8))
        default:
            return (.notFound, "text/plain", Array("not found: /metrics, /healthz, /readyz\n".utf8))
        }
    }
}

final class HTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let routes: Routes
    private var request: HTTPRequestHead?

    init(routes: Routes) { self.routes = routes }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            request = head
        case .body:
            break
        case .end:
            guard let head = request else { return }
            request = nil
            let (status, contentType, body) = routes.respond(method: head.method, path: head.uri)
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: contentType)
            headers.add(name: "Content-Length", value: String(body.count))
            let keepAlive = head.isKeepAlive
            if !keepAlive { headers.add(name: "Connection", value: "close") }
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
            if head.method != .HEAD {
                context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))), promise: nil)
            }
            let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
            if !keepAlive {
                let channel = context.channel
                done.whenComplete { _ in channel.close(promise: nil) }
            }
        }
    }
}
