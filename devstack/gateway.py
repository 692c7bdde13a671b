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
            regex = "^" + re.sub(r"\{([a-zA-Z0-9_]+)\}", r"(?P<\1>[^/]+)", props["Path"]) + "$"
            found.append(Route(props["Method"].upper(), props["Path"], re.compile(regex), logical_id,
                               None if auth == "NONE" else authorizer_fn))
    return found


class _Quiet(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


class LocalGateway:
    def __init__(self, stage: str = "local"):
        self.stage = stage
        self.routes = routes()
        self._server: BaseWSGIServer | None = None
        self.base_url = ""

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        self._server = make_server(host, port, self._wsgi, threaded=True, request_handler=_Quiet)
        self.base_url = f"http://{host}:{self._server.server_port}"
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True,
                         name="local-gateway").start()
        return self.base_url

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def _wsgi(self, environ: dict, start_response: Any) -> Any:
        return self.dispatch(Request(environ))(environ, start_response)

    def dispatch(self, request: Request) -> Response:
        path = request.path
        candidates = [(r, r.pattern.match(path)) for r in self.routes]
        matching = [(r, m) for r, m in candidates if m]
        if not matching:
            return _json(404, '{"message":"Not Found"}')
        route_match = next(((r, m) for r, m in matching if r.method == request.method), None)
        if route_match is None:
            return _json(403 if request.method != "OPTIONS" else 404, '{"message":"Missing Authentication Token"}')
        route, match = route_match
        request_id = str(uuid.uuid4())
        headers = {k: v for k, v in request.headers.items()}
        query = {k: v for k, v in request.args.items()} or None
        authorizer_context: dict[str, Any] | None = None
        if route.authorizer:
            auth_event = {
                "type": "REQUEST",
                "methodArn": f"arn:aws:execute-api:eu-north-1:000000000000:local/{self.stage}/{route.method}{route.resource}",
                "resource": route.resource, "path": path, "httpMethod": route.method, "headers": headers,
                "queryStringParameters": query, "pathParameters": match.groupdict(),
                "requestContext": {"requestId": request_id, "stage": self.stage},
            }
            try:
                policy = lambdas.invoke(route.authorizer, auth_event)
            except Exception:
                return _json(401, '{"message":"Unauthorized"}')
            if policy["policyDocument"]["Statement"][0]["Effect"] != "Allow":
                return _json(403, '{"message":"User is not authorized to access this resource"}')
            authorizer_context = {**policy.get("context", {}), "principalId": policy["principalId"]}
        body = request.get_data()
        content_type = request.headers.get("Content-Type", "")
        is_text = not body or content_type.startswith(("application/json", "text/", "application/x-www-form"))
        event = {
            "resource": route.resource, "path": path, "httpMethod": route.method,
            "headers": headers, "multiValueHeaders": {k: request.headers.getlist(k) for k in request.headers.keys()},
            "queryStringParameters": query,
            "multiValueQueryStringParameters": {k: request.args.getlist(k) for k in request.args.keys()} or None,
            "pathParameters": match.groupdict() or None, "stageVariables": None,
            "requestContext": {
                "resourcePath": route.resource, "httpMethod": route.method, "path": f"/{self.stage}{path}",
                "stage": self.stage, "requestId": request_id,
                "identity": {"sourceIp": request.remote_addr or "127.0.0.1"},
                "authorizer": authorizer_context,
            },
            "body": (body.decode() if is_text else base64.b64encode(body).decode()) if body else None,
            "isBase64Encoded": not is_text,
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


def _json(status: int, body: str) -> Response:
    return Response(body, status=status, content_type="application/json")
