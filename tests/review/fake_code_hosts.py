"""Fake GitHub and Azure Repos comment APIs on 127.0.0.1, for the publisher's tests.

Each fake keeps a pull request's comments in memory and answers the REST calls the publisher makes, as the real
service documents them: GitHub pages its listing with a `Link` header (absolute URLs, `per_page` up to 100) and
answers a bad token with 401 `{"message": "Bad credentials"}`; Azure Repos lists every thread of a pull request
(with `x-ms-continuationtoken` when there are more) and needs `api-version`. Both record every request, and both
can be told to fail the next requests that match (`fail`), with the status and headers a throttled or broken
service sends.

    with FakeGitHub(token="t0ken") as hub:
        hub.add_comment("hello", author="someone")
        ... # python -m review.publish github --api-url hub.url --repo hub.repo --pr hub.number
        hub.requests("PATCH")
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit


@dataclass
class Recorded:
    """One request the fake received."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


@dataclass
class Failure:
    """An answer to give instead of the real one, `times` times, to requests matching `method` and `path`."""

    method: str
    path: str
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    times: int = 1
    after: bool = False  # act on the request first, then answer with the failure (a write whose answer is lost)


Answer = tuple[int, dict[str, str], Any]


class _FakeService:
    """The HTTP plumbing both fakes share: a server thread, the request log, scripted failures, the token check."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.recorded: list[Recorded] = []
        self.failures: list[Failure] = []
        self._lock = threading.Lock()
        self._ids = itertools.count(1001)
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                request = Recorded(
                    method=self.command,
                    path=parts.path,
                    query=parse_qs(parts.query),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=json.loads(raw) if raw else None,
                )
                status, headers, body = fake._answer(request)
                payload = b"" if body is None else json.dumps(body).encode()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PATCH = _serve  # noqa: N815 (http.server's method names)

            def log_message(self, *_: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        # A short poll keeps shutdown (at the end of every test) from waiting the default half second.
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()

    def next_id(self) -> int:
        return next(self._ids)

    def fail(self, method: str, path: str, status: int, **kwargs: Any) -> None:
        """Answer the next request(s) matching `method` and the `path` regex with `status`."""
        self.failures.append(Failure(method, path, status, **kwargs))

    def requests(self, method: str | None = None) -> list[Recorded]:
        """The requests received so far, optionally only those of one method."""
        return [r for r in self.recorded if method is None or r.method == method]

    def _answer(self, request: Recorded) -> Answer:
        with self._lock:
            self.recorded.append(request)
            failure = next(
                (f for f in self.failures if f.method == request.method and re.search(f.path, request.path)), None
            )
            if failure is not None:
                failure.times -= 1
                if failure.times <= 0:
                    self.failures.remove(failure)
            if failure is not None and not failure.after:
                return failure.status, failure.headers, failure.body
            if request.headers.get("authorization") != f"Bearer {self.token}":
                answer = self.unauthorized(request)
            else:
                answer = self.handle(request)
            if failure is not None:
                return failure.status, failure.headers, failure.body
            return answer

    def unauthorized(self, request: Recorded) -> Answer:
        raise NotImplementedError

    def handle(self, request: Recorded) -> Answer:
        raise NotImplementedError


class FakeGitHub(_FakeService):
    """The issue-comment endpoints of one GitHub pull request, `owner/repo#7`."""

    repo = "contoso/stackhub-ha"
    number = 7
    page_size_limit = 100

    def __init__(self, token: str) -> None:
        super().__init__(token)
        self.comments: list[dict[str, Any]] = []

    def add_comment(self, body: str, *, author: str = "github-actions[bot]") -> dict[str, Any]:
        comment_id = self.next_id()
        comment = {
            "id": comment_id,
            "body": body,
            "user": {"login": author, "type": "Bot" if author.endswith("[bot]") else "User"},
            "html_url": f"https://github.example/{self.repo}/pull/{self.number}#issuecomment-{comment_id}",
        }
        self.comments.append(comment)
        return comment

    def unauthorized(self, request: Recorded) -> Answer:
        # A careless server might echo what it was sent; the publisher must not print it back.
        sent = request.headers.get("authorization", "")
        return 401, {}, {"message": f"Bad credentials: {sent}", "status": "401"}

    def handle(self, request: Recorded) -> Answer:
        list_path = f"/repos/{self.repo}/issues/{self.number}/comments"
        edit = re.fullmatch(rf"/repos/{self.repo}/issues/comments/(\d+)", request.path)
        if request.headers.get("x-github-api-version") != "2022-11-28" or "user-agent" not in request.headers:
            return 400, {}, {"message": "missing API version or user agent"}
        if request.method == "GET" and request.path == list_path:
            per_page = min(int(request.query.get("per_page", ["30"])[0]), self.page_size_limit)
            page = int(request.query.get("page", ["1"])[0])
            chunk = self.comments[(page - 1) * per_page : page * per_page]
            headers = {}
            if page * per_page < len(self.comments):
                headers["Link"] = (
                    f'<{self.url}{list_path}?per_page={per_page}&page={page + 1}>; rel="next", '
                    f'<{self.url}{list_path}?per_page={per_page}&page=1>; rel="first"'
                )
            return 200, headers, chunk
        if request.method == "POST" and request.path == list_path:
            return 201, {}, self.add_comment(request.body["body"])
        if request.method == "PATCH" and edit:
            for comment in self.comments:
                if comment["id"] == int(edit.group(1)):
                    comment["body"] = request.body["body"]
                    return 200, {}, comment
            return 404, {}, {"message": "Not Found"}
        return 404, {}, {"message": "Not Found"}

    def bodies(self) -> list[str]:
        return [c["body"] for c in self.comments]


class FakeAzureRepos(_FakeService):
    """The pull-request thread endpoints of Azure Repos for one pull request of `org/Stack Hub/ratings`."""

    organization = "contoso"
    project = "Stack Hub"
    repository = "9d1e8a4c-5b7f-4e2a-8c3d-1f0e2d3c4b5a"
    number = 42

    def __init__(self, token: str, *, page_size: int = 1000) -> None:
        super().__init__(token)
        self.threads: list[dict[str, Any]] = []
        self.page_size = page_size

    @property
    def collection_uri(self) -> str:
        return f"{self.url}/{self.organization}/"

    def add_thread(
        self, content: str, *, author: str = "Build Service", deleted: bool = False, replies: int = 0
    ) -> dict[str, Any]:
        thread_id = self.next_id()
        comments = [self._comment(1, 0, content, author)]
        comments += [self._comment(2 + i, 1, f"reply {i}", "Reviewer") for i in range(replies)]
        thread = {"id": thread_id, "comments": comments, "status": "active", "isDeleted": deleted}
        self.threads.append(thread)
        return thread

    @staticmethod
    def _comment(comment_id: int, parent: int, content: str, author: str) -> dict[str, Any]:
        return {
            "id": comment_id,
            "parentCommentId": parent,
            "content": content,
            "commentType": "text",
            "author": {"displayName": author, "uniqueName": author},
        }

    def unauthorized(self, request: Recorded) -> Answer:
        sent = request.headers.get("authorization", "")
        return 401, {}, {"message": f"TF400813: The user is not authorized ({sent})", "typeKey": "Unauthorized"}

    def handle(self, request: Recorded) -> Answer:
        threads_path = (
            f"/{self.organization}/Stack%20Hub/_apis/git/repositories/{self.repository}/pullRequests/"
            f"{self.number}/threads"
        )
        if request.query.get("api-version") != ["7.1"]:
            return 400, {}, {"message": "VS800075: The project and api-version are required"}
        edit = re.fullmatch(re.escape(threads_path) + r"/(\d+)/comments/(\d+)", request.path)
        if request.method == "GET" and request.path == threads_path:
            return self._list(request)
        if request.method == "POST" and request.path == threads_path:
            return self._create(request)
        if request.method == "PATCH" and edit:
            return self._edit(int(edit.group(1)), int(edit.group(2)), request.body["content"])
        return 404, {}, {"message": "not found"}

    def _list(self, request: Recorded) -> Answer:
        start = int(request.query.get("continuationToken", ["0"])[0])
        chunk = self.threads[start : start + self.page_size]
        headers = {}
        if start + self.page_size < len(self.threads):
            headers["x-ms-continuationtoken"] = str(start + self.page_size)
        return 200, headers, {"value": chunk, "count": len(chunk)}

    def _create(self, request: Recorded) -> Answer:
        first = request.body["comments"][0]
        if first.get("parentCommentId") != 0 or first.get("commentType") != 1:
            return 400, {}, {"message": "a new thread starts with a text comment"}
        thread = self.add_thread(first["content"])
        thread["status"] = {1: "active", 4: "closed"}[request.body["status"]]
        return 200, {}, thread

    def _edit(self, thread_id: int, comment_id: int, content: str) -> Answer:
        for thread in self.threads:
            for comment in thread["comments"] if thread["id"] == thread_id else []:
                if comment["id"] == comment_id:
                    comment["content"] = content
                    return 200, {}, comment
        return 404, {}, {"message": "TF401180: The requested pull request comment was not found"}

    def first_contents(self) -> list[str]:
        return [t["comments"][0]["content"] for t in self.threads]
