"""Optional bearer-token authentication for every RPC except health checks.

Clients send ``authorization: Bearer <token>`` metadata; the token is compared in
constant time. Health checks stay open so load balancers and orchestrators can probe.
"""
from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from knn_al.errors import InvalidInputError

HEALTH_PREFIX = "/grpc.health.v1.Health/"

_HANDLER_FACTORIES = {
    (False, False): grpc.unary_unary_rpc_method_handler,
    (True, False): grpc.stream_unary_rpc_method_handler,
    (False, True): grpc.unary_stream_rpc_method_handler,
    (True, True): grpc.stream_stream_rpc_method_handler,
}


class TokenAuthInterceptor(grpc.aio.ServerInterceptor):
    """Rejects calls without the right bearer token with UNAUTHENTICATED."""

    def __init__(self, token: str) -> None:
        if not token:
            raise InvalidInputError("the auth token must not be empty")
        self._expected = f"Bearer {token}".encode()

    def _authorised(self, metadata: Any) -> bool:
        for key, value in metadata or ():
            if key == "authorization":
                given = value.encode() if isinstance(value, str) else value
                return hmac.compare_digest(given, self._expected)
        return False

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if (handler is None or handler_call_details.method.startswith(HEALTH_PREFIX)
                or self._authorised(handler_call_details.invocation_metadata)):
            return handler
        given = any(key == "authorization" for key, _ in handler_call_details.invocation_metadata or ())
        message = ("wrong token in the 'authorization: Bearer <token>' metadata" if given
                   else "this server requires a token: send 'authorization: Bearer <token>' metadata")

        async def deny(request: Any, context: grpc.aio.ServicerContext) -> None:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, message)

        factory = _HANDLER_FACTORIES[(handler.request_streaming, handler.response_streaming)]
        return factory(deny, request_deserializer=handler.request_deserializer,
                       response_serializer=handler.response_serializer)
