"""A local API Gateway (REST, proxy integration) built from template.yaml's Api events.

It runs the Lambda authorizer exactly as configured (REQUEST type, Authorization header),
then calls the route's handler with a REST proxy event and writes back its response.
"""
from __future__ import annotations

import base64
import re
import threading
import uuid
from dataclasses import dataclass
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from . import lambdas, template


@dataclass
class Route:
    method: str
    resource: str
    pattern: re.Pattern
    function: str
    authorizer: str | None


def routes() -> list[Route]:
    api = template.resources("AWS::Serverless::Api")["Api"]["Properties"]
    default_auth = api.get("Auth", {}).get("DefaultAuthorizer")
    authorizer_fn = None
    if default_auth:
        arn = api["Auth"]["Authorizers"][default_auth]["FunctionArn"]
        authorizer_fn = arn["Fn::GetAtt"].split(".")[0] if isinstance(arn["Fn::GetAtt"], str) else arn["Fn::GetAtt"][0]
    found = []
    for logical_id, fn in template.functions().items():
        for event in (fn["Properties"].get("Events") or {}).values():
            if event["Type"] != "Api":
                continue
            props = event["Properties"]
            auth = props.get("Auth", {}).get("Authorizer", default_auth)
            # {name+} is API Gateway's greedy path variable: the rest of the path, slashes and all.
            greedy = re.sub(r"\{([a-zA-Z0-9_]+)\+\}", r"(?P<\1>.+)", props["Path"])
            regex = "^" + re.sub(r"\{([a-zA-Z0-9_]+)\}", r"(?P<\1>[^/]+)", greedy) + "$"
            found.append(Route(props["Method"].upper(), props["Path"], re.compile(regex), logical_id,
                               None if auth == "NONE" else authorizer_fn))
    return found


def binary_media_types() -> list[str]:
    """The API's binaryMediaTypes (SAM: BinaryMediaTypes, "~1" standing for "/")."""
    api = template.resources("AWS::Serverless::Api")["Api"]["Properties"]
    return [str(t).replace("~1", "/").lower() for t in api.get("BinaryMediaTypes") or []]


def _matches_media_type(content_type: str, patterns: list[str]) -> bool:
    media = content_type.split(";")[0].strip().lower()
    if not media or not patterns:
        return False
    kind, _, subtype = media.partition("/")
    for pattern in patterns:
        p_kind, _, p_subtype = pattern.partition("/")
        if p_kind in ("*", kind) and p_subtype in ("*", subtype):
            return True
    return False


class _Quiet(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


class LocalGateway:
    def __init__(self, stage: str = "local"):
        self.stage = stage
        self.routes = routes()
        self.binary_media_types = binary_media_types()
        self._server: BaseWSGIServer | None = None
        self.base_url = ""

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        self._server = make_server(host, port, self, threaded=True, request_handler=_Quiet)
        self.base_url = f"http://{host}:{self._server.server_port}"
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True,
                         name="local-gateway").start()
        return self.base_url

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __call__(self, environ: dict, start_response: Any) -> Any:
        """The gateway as a WSGI application (what ``start`` serves; tests can call it in process)."""
        return self.dispatch(Request(environ))(environ, start_response)

    def integration_body(self, raw: bytes, content_type: str) -> tuple[str | None, bool]:
        """The request body as a REST API's Lambda proxy integration hands it to the function.

        Only a Content-Type matching the API's binaryMediaTypes travels as raw bytes, i.e.
        base64 with isBase64Encoded=true. Every other body -- whatever its Content-Type, and that
        is all of them while template.yaml sets no BinaryMediaTypes -- is a text payload, passed
        as a UTF-8 string with isBase64Encoded=false. Bytes that are not UTF-8 do not survive
        that: they arrive as U+FFFD replacement characters (the "corrupted binary upload" anyone
        who forgot binaryMediaTypes has met). Decoding with errors="replace" reproduces exactly
        that, so the handlers see locally what they would see deployed, instead of the gateway
        failing on its own.
        """
        if not raw:
            return None, False
        if _matches_media_type(content_type, self.binary_media_types):
            return base64.b64encode(raw).decode("ascii"), True
        return raw.decode("utf-8", errors="replace"), False

    def dispatch(self, request: Request) -> Response:
        path = request.path
        candidates = [(r, r.pattern.match(path)) for r in self.routes]
        matching = [(r, m) for r, m in candidates if m]
        # An exact method wins over ANY, as in API Gateway.
        route_match = (next(((r, m) for r, m in matching if r.method == request.method), None)
                       or next(((r, m) for r, m in matching if r.method == "ANY"), None))
        if route_match is None:  # API Gateway's answer to a path or method it has no resource for
            return _gateway_response("MISSING_AUTHENTICATION_TOKEN", 403, '{"message":"Missing Authentication Token"}')
        route, match = route_match
        request_id = str(uuid.uuid4())
        headers = {k: v for k, v in request.headers.items()}
        query = {k: v for k, v in request.args.items()} or None
        authorizer_context: dict[str, Any] | None = None
        if route.authorizer:
            auth_event = {
                "type": "REQUEST",
                "methodArn": f"arn:aws:execute-api:eu-north-1:000000000000:local/{self.stage}/{route.method}{route.resource}",
                "resource": route.resource, "path": path, "httpMethod": request.method, "headers": headers,
                "queryStringParameters": query, "pathParameters": match.groupdict(),
                "requestContext": {"requestId": request_id, "stage": self.stage},
            }
            try:
                policy = lambdas.invoke(route.authorizer, auth_event)
            except Exception:
                return _gateway_response("UNAUTHORIZED", 401, '{"message":"Unauthorized"}')
            if policy["policyDocument"]["Statement"][0]["Effect"] != "Allow":
                return _json(403, '{"message":"User is not authorized to access this resource"}')
            authorizer_context = {**policy.get("context", {}), "principalId": policy["principalId"]}
        body, is_base64 = self.integration_body(request.get_data(), request.headers.get("Content-Type", ""))
        event = {
            # The request's own method, also where the route is ANY.
            "resource": route.resource, "path": path, "httpMethod": request.method,
            "headers": headers, "multiValueHeaders": {k: request.headers.getlist(k) for k in request.headers.keys()},
            "queryStringParameters": query,
            "multiValueQueryStringParameters": {k: request.args.getlist(k) for k in request.args.keys()} or None,
            "pathParameters": match.groupdict() or None, "stageVariables": None,
            "requestContext": {
                "resourcePath": route.resource, "httpMethod": request.method, "path": f"/{self.stage}{path}",
                "stage": self.stage, "requestId": request_id,
                "identity": {"sourceIp": request.remote_addr or "127.0.0.1"},
                "authorizer": authorizer_context,
            },
            "body": body,
            "isBase64Encoded": is_base64,
        }
        try:
            result = lambdas.invoke(route.function, event)
        except Exception:
            import traceback

            traceback.print_exc()
            return _json(502, '{"message":"Internal server error"}')
        response_body = result.get("body") or ""
        data = base64.b64decode(response_body) if result.get("isBase64Encoded") else response_body.encode()
        response = Response(data, status=result["statusCode"])
        for key, value in (result.get("headers") or {}).items():
            response.headers[key] = value
        for key, values in (result.get("multiValueHeaders") or {}).items():
            response.headers.setlist(key, values)
        return response


def _gateway_response(kind: str, status: int, default_body: str) -> Response:
    """The API's GatewayResponses entry for ``kind`` (template.yaml), else API Gateway's default."""
    api = template.resources("AWS::Serverless::Api")["Api"]["Properties"]
    configured = (api.get("GatewayResponses") or {}).get(kind) or {}
    body = (configured.get("ResponseTemplates") or {}).get("application/json", default_body)
    return _json(int(configured.get("StatusCode", status)), body)


def _json(status: int, body: str) -> Response:
    return Response(body, status=status, content_type="application/json")
