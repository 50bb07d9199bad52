"""Where comments live: a GitHub pull request's conversation, or an Azure Repos pull request's threads.

Each platform lists the pull request's comments, creates one, and edits one; `review.publish` decides which.

- GitHub (REST, `X-GitHub-Api-Version: 2022-11-28`): a pull request's conversation comments are issue comments:
  `GET/POST /repos/{owner}/{repo}/issues/{number}/comments` (the listing is paginated through the `Link` header)
  and `PATCH /repos/{owner}/{repo}/issues/comments/{id}`. A comment holds at most 65,536 characters.
- Azure Repos (api-version 7.1): one thread per stack, `GET/POST {collection}{project}/_apis/git/repositories/
  {repo}/pullRequests/{id}/threads` and `PATCH .../threads/{threadId}/comments/{commentId}` on the thread's first
  comment. A comment holds at most 150,000 characters.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol
from urllib.parse import quote, urlencode

# The comment sizes live with the comment's renderer (standard library only, as this package is); the preview
# engine cannot import review/, because a `--diff` runs it inside an older checkout that may have none.
from preview.markdown import AZURE_REPOS_LIMIT, GITHUB_LIMIT
from review.api import ApiClient, ApiError

AZURE_API_VERSION = "7.1"
MAX_PAGES = 100  # 10,000 comments on one pull request: a listing longer than that is a loop, not a conversation

_NEXT_LINK = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')


@dataclass(frozen=True)
class Comment:
    """One existing comment: how to address it, its text and who wrote it."""

    id: str
    body: str
    author: str
    url: str


class Platform(Protocol):
    """A pull request's comments on one code host."""

    name: str
    limit: int

    def describe(self) -> str:
        """The pull request, for messages (`owner/repo#12`)."""
        ...

    def list_comments(self) -> list[Comment]:
        """Every comment on the pull request, oldest first."""
        ...

    def create(self, body: str) -> Comment:
        """Post a new comment."""
        ...

    def update(self, comment: Comment, body: str) -> Comment:
        """Replace the text of an existing comment."""
        ...


def _as_dict(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ApiError(f"{what}: the answer is not a JSON object")
    return value


class GitHub:
    """Issue comments of a GitHub pull request."""

    name = "GitHub"
    limit = GITHUB_LIMIT

    def __init__(self, client: ApiClient, repository: str, number: int) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+", repository):
            raise ApiError(f"GitHub: repository {repository!r} is not in the form owner/name")
        self._client = client
        self._repository = repository
        self._number = number

    def describe(self) -> str:
        return f"{self._repository}#{self._number}"

    def _comments_url(self) -> str:
        return f"{self._client.base_url}/repos/{self._repository}/issues/{self._number}/comments"

    def list_comments(self) -> list[Comment]:
        url: str | None = self._comments_url() + "?" + urlencode({"per_page": 100})
        comments: list[Comment] = []
        pages = 0
        while url is not None:
            pages += 1
            if pages > MAX_PAGES:
                raise ApiError(f"GitHub: listing comments of {self.describe()}: more than {MAX_PAGES} pages")
            answer = self._client.request("GET", url, f"listing comments of {self.describe()}")
            if not isinstance(answer.body, list):
                raise ApiError(f"GitHub: listing comments of {self.describe()}: the answer is not a JSON list")
            comments.extend(self._comment(item) for item in answer.body)
            match = _NEXT_LINK.search(answer.headers.get("link", ""))
            url = match.group(1) if match else None
        return comments

    def create(self, body: str) -> Comment:
        answer = self._client.request("POST", self._comments_url(), f"commenting on {self.describe()}", {"body": body})
        return self._comment(answer.body)

    def update(self, comment: Comment, body: str) -> Comment:
        url = f"{self._client.base_url}/repos/{self._repository}/issues/comments/{comment.id}"
        answer = self._client.request(
            "PATCH", url, f"editing comment {comment.id} on {self.describe()}", {"body": body}
        )
        return self._comment(answer.body)

    @staticmethod
    def _comment(item: Any) -> Comment:
        data = _as_dict(item, "GitHub: a comment")
        user = _as_dict(data.get("user") or {}, "GitHub: a comment's author")
        return Comment(
            id=str(data.get("id", "")),
            body=str(data.get("body") or ""),
            author=str(user.get("login", "")),
            url=str(data.get("html_url", "")),
        )


class AzureRepos:
    """Threads of an Azure Repos pull request; each stack's comment is the first comment of its own thread."""

    name = "Azure Repos"
    limit = AZURE_REPOS_LIMIT

    # CommentThreadStatus and CommentType of the Git REST API.
    STATUSES: ClassVar[Mapping[str, int]] = {"active": 1, "closed": 4}
    _TEXT = 1

    def __init__(self, client: ApiClient, project: str, repository: str, number: int, *, status: str) -> None:
        self._client = client
        self._project = project
        self._repository = repository
        self._number = number
        self._status = self.STATUSES[status]

    def describe(self) -> str:
        return f"pull request {self._number} of {self._project}/{self._repository}"

    def _threads_url(self) -> str:
        return (
            f"{self._client.base_url}/{quote(self._project, safe='')}/_apis/git/repositories/"
            f"{quote(self._repository, safe='')}/pullRequests/{self._number}/threads"
        )

    def list_comments(self) -> list[Comment]:
        comments: list[Comment] = []
        continuation: str | None = None
        for _ in range(MAX_PAGES):
            query = {"api-version": AZURE_API_VERSION}
            if continuation:
                query["continuationToken"] = continuation
            answer = self._client.request(
                "GET", self._threads_url() + "?" + urlencode(query), f"listing threads of {self.describe()}"
            )
            threads = _as_dict(answer.body, f"Azure Repos: listing threads of {self.describe()}").get("value")
            if not isinstance(threads, list):
                raise ApiError(f"Azure Repos: listing threads of {self.describe()}: no 'value' list in the answer")
            for thread in threads:
                comment = self._first_comment(thread)
                if comment is not None:
                    comments.append(comment)
            continuation = answer.headers.get("x-ms-continuationtoken")
            if not continuation:
                return comments
        raise ApiError(f"Azure Repos: listing threads of {self.describe()}: more than {MAX_PAGES} pages")

    def create(self, body: str) -> Comment:
        payload = {
            "comments": [{"parentCommentId": 0, "content": body, "commentType": self._TEXT}],
            "status": self._status,
        }
        url = self._threads_url() + "?" + urlencode({"api-version": AZURE_API_VERSION})
        answer = self._client.request("POST", url, f"opening a thread on {self.describe()}", payload)
        comment = self._first_comment(answer.body)
        if comment is None:
            raise ApiError(f"Azure Repos: opening a thread on {self.describe()}: the answer has no comment")
        return comment

    def update(self, comment: Comment, body: str) -> Comment:
        thread_id, comment_id = comment.id.split("/", 1)
        url = f"{self._threads_url()}/{thread_id}/comments/{comment_id}?" + urlencode(
            {"api-version": AZURE_API_VERSION}
        )
        what = f"editing thread {thread_id} on {self.describe()}"
        answer = self._client.request("PATCH", url, what, {"content": body})
        data = _as_dict(answer.body, f"Azure Repos: {what}")
        return Comment(id=comment.id, body=str(data.get("content") or body), author=comment.author, url=comment.url)

    def _first_comment(self, thread: Any) -> Comment | None:
        """The thread's opening comment, unless the thread or the comment is deleted or not a text comment."""
        data = _as_dict(thread, f"Azure Repos: a thread of {self.describe()}")
        if data.get("isDeleted"):
            return None
        comments = [c for c in data.get("comments") or [] if isinstance(c, dict)]
        first = next((c for c in comments if c.get("parentCommentId", 0) == 0), None)
        if first is None or first.get("isDeleted") or first.get("commentType", "text") not in {"text", self._TEXT}:
            return None
        author = _as_dict(first.get("author") or {}, "Azure Repos: a comment's author")
        return Comment(
            id=f"{data.get('id')}/{first.get('id')}",
            body=str(first.get("content") or ""),
            author=str(author.get("uniqueName") or author.get("displayName") or ""),
            url=f"{self.describe()}, thread {data.get('id')}",
        )
