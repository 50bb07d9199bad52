"""`python -m review.publish` against fake GitHub and Azure Repos servers on 127.0.0.1.

What a pull request needs from it: one comment per stack, created once and edited after; other stacks' comments and
other people's comments untouched; a newer preview never replaced by an older one; throttling waited out; failures
reported in one line that names what failed, without a traceback and without the token.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from review import publish
from review.marker import parse
from tests.review.fake_code_hosts import FakeAzureRepos, FakeGitHub

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "ghs_Sup3rSecretT0kenValue0123456789"
HEAD = "1f2e3d4c5b6a79881f2e3d4c5b6a79881f2e3d4c"
OLDER = "0a0b0c0d0e0f0a0b0c0d0e0f0a0b0c0d0e0f0a0b"
TIME = "2025-03-04T10:00:00+01:00"  # 09:00:00Z


def preview_body(stack: str, text: str = "+ 3 to create, ~ 1 to update") -> str:
    """The offline preview's markdown as the preview CLI prints it: its marker, then the comment."""
    return f"<!-- stackhub-ha-preview stack={stack} -->\n**{stack}**: base `0a0b0c0` head `1f2e3d4`\n\n{text}\n"


def posted(stack: str, head: str, time: str, text: str = "old") -> str:
    """A comment as an earlier run of the publisher left it."""
    return f"<!-- stackhub-ha-preview stack={stack} head={head} time={time} -->\n{text}\n"


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    with FakeGitHub(token=TOKEN) as fake:
        yield fake


@pytest.fixture
def azure() -> Iterator[FakeAzureRepos]:
    with FakeAzureRepos(token=TOKEN) as fake:
        yield fake


@pytest.fixture(autouse=True)
def _ci_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A clean CI environment: only the token, none of the runner's own variables."""
    for name in ("GITHUB_REF", "GITHUB_REPOSITORY", "GITHUB_API_URL", "SYSTEM_COLLECTIONURI", "SYSTEM_TEAMPROJECT"):
        monkeypatch.delenv(name, raising=False)
    for name in ("BUILD_REPOSITORY_ID", "SYSTEM_PULLREQUEST_PULLREQUESTID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    monkeypatch.setenv("SYSTEM_ACCESSTOKEN", TOKEN)


class Waits(list[float]):
    """Records the waits the publisher asks for instead of sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def body_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "comment.md"
    path.write_text(text, encoding="utf-8")
    return path


def github_args(hub: FakeGitHub, body: Path, stack: str, *extra: str, head: str = HEAD, time: str = TIME) -> list[str]:
    return [
        "github", "--api-url", hub.url, "--repo", hub.repo, "--pr", str(hub.number),
        "--stack", stack, "--body-file", str(body), "--head-sha", head, "--head-time", time, *extra,
    ]  # fmt: skip


def azure_args(repos: FakeAzureRepos, body: Path, stack: str, *extra: str, time: str = TIME) -> list[str]:
    return [
        "azure-repos", "--collection-uri", repos.collection_uri, "--project", repos.project,
        "--repository", repos.repository, "--pr", str(repos.number),
        "--stack", stack, "--body-file", str(body), "--head-sha", HEAD, "--head-time", time, *extra,
    ]  # fmt: skip


def run_cli(args: list[str], token: str = TOKEN) -> subprocess.CompletedProcess[str]:
    """The publisher as a CI step runs it: a separate process, the token only in its environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "SYSTEM_", "BUILD_"))}
    env |= {"GITHUB_TOKEN": token, "SYSTEM_ACCESSTOKEN": token}
    return subprocess.run(
        [sys.executable, "-m", "review.publish", *args],
        check=False,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


# --- GitHub -----------------------------------------------------------------------------------------------------


def test_github_creates_one_comment_with_the_stack_marker(
    github: FakeGitHub, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = body_file(tmp_path, preview_body("hub-seattle"))

    assert publish.main(github_args(github, body, "hub-seattle")) == 0

    (post,) = github.requests("POST")
    assert post.path == "/repos/contoso/stackhub-ha/issues/7/comments"
    assert post.headers["authorization"] == f"Bearer {TOKEN}"
    first, rest = post.body["body"].split("\n", 1)
    assert first == f"<!-- stackhub-ha-preview stack=hub-seattle head={HEAD} time=2025-03-04T09:00:00Z -->"
    assert rest == preview_body("hub-seattle").split("\n", 1)[1]
    assert "created the comment for stack hub-seattle on contoso/stackhub-ha#7" in capsys.readouterr().out


def test_github_matrix_jobs_each_edit_only_their_own_comment(github: FakeGitHub, tmp_path: Path) -> None:
    github.add_comment("Looks good to me", author="reviewer")
    seattle = github.add_comment(posted("hub-seattle", OLDER, "2025-03-01T00:00:00Z"))
    denver = github.add_comment(posted("hub-denver", OLDER, "2025-03-01T00:00:00Z", text="denver's"))
    github.add_comment(posted("global", OLDER, "2025-03-01T00:00:00Z"))

    assert publish.main(github_args(github, body_file(tmp_path, preview_body("hub-seattle")), "hub-seattle")) == 0

    assert github.requests("POST") == []
    (patch,) = github.requests("PATCH")
    assert patch.path == f"/repos/contoso/stackhub-ha/issues/comments/{seattle['id']}"
    assert "+ 3 to create" in seattle["body"]
    assert denver["body"].endswith("denver's\n")
    assert len(github.comments) == 4


def test_github_rerun_of_the_same_commit_edits_its_comment(github: FakeGitHub, tmp_path: Path) -> None:
    body = body_file(tmp_path, preview_body("shared"))
    assert publish.main(github_args(github, body, "shared")) == 0
    body.write_text(preview_body("shared", "+ 4 to create"), encoding="utf-8")

    assert publish.main(github_args(github, body, "shared")) == 0

    assert len(github.comments) == 1
    assert "+ 4 to create" in github.comments[0]["body"]


def test_github_finds_its_comment_on_a_later_page(github: FakeGitHub, tmp_path: Path) -> None:
    for i in range(230):
        github.add_comment(f"comment {i}", author="reviewer")
    ours = github.add_comment(posted("hub-denver", OLDER, "2025-03-01T00:00:00Z"))

    assert publish.main(github_args(github, body_file(tmp_path, preview_body("hub-denver")), "hub-denver")) == 0

    pages = github.requests("GET")
    assert [r.query.get("page", ["1"])[0] for r in pages] == ["1", "2", "3"]
    assert all(r.query["per_page"] == ["100"] for r in pages)
    assert github.requests("POST") == []
    assert "+ 3 to create" in ours["body"]


def test_github_keeps_a_comment_of_a_newer_head(
    github: FakeGitHub, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    newer = github.add_comment(posted("hub-seattle", "abcdef0", "2025-03-04T09:00:01Z", text="newer"))

    code = publish.main(github_args(github, body_file(tmp_path, preview_body("hub-seattle")), "hub-seattle"))

    assert code == 0
    assert github.requests("PATCH") == github.requests("POST") == []
    assert newer["body"].endswith("newer\n")
    assert "kept the comment for stack hub-seattle" in capsys.readouterr().out


def test_github_replaces_a_comment_of_an_older_head(github: FakeGitHub, tmp_path: Path) -> None:
    older = github.add_comment(posted("hub-seattle", OLDER, "2025-03-04T08:59:59Z"))

    assert publish.main(github_args(github, body_file(tmp_path, preview_body("hub-seattle")), "hub-seattle")) == 0

    assert parse(older["body"]) is not None
    assert f"head={HEAD}" in older["body"].split("\n", 1)[0]


def test_github_ignores_marker_comments_written_by_someone_else(github: FakeGitHub, tmp_path: Path) -> None:
    forged = github.add_comment(posted("hub-seattle", "abcdef0", "2099-01-01T00:00:00Z", text="forged"), author="eve")

    assert publish.main(github_args(github, body_file(tmp_path, preview_body("hub-seattle")), "hub-seattle")) == 0

    assert forged["body"].endswith("forged\n")
    assert len(github.requests("POST")) == 1


def test_github_waits_out_429_as_retry_after_says(github: FakeGitHub, tmp_path: Path) -> None:
    github.fail("GET", r"/comments$", 429, headers={"Retry-After": "7"}, body={"message": "slow down"})
    github.fail("POST", r"/comments$", 429, headers={"Retry-After": "3"})
    waits = Waits()

    code = publish.main(github_args(github, body_file(tmp_path, preview_body("global")), "global"), sleep=waits)

    assert code == 0
    assert waits == [7.0, 3.0]
    assert len(github.comments) == 1


def test_github_waits_out_a_secondary_rate_limit(github: FakeGitHub, tmp_path: Path) -> None:
    github.fail("GET", r"/comments$", 403, headers={"Retry-After": "60"}, body={"message": "secondary rate limit"})
    waits = Waits()

    assert publish.main(github_args(github, body_file(tmp_path, preview_body("global")), "global"), sleep=waits) == 0

    assert waits == [60.0]


def test_github_gives_up_after_bounded_retries_on_5xx(
    github: FakeGitHub, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    github.fail("GET", r"/comments$", 503, times=99, body={"message": "Service Unavailable"})
    waits = Waits()

    code = publish.main(
        github_args(github, body_file(tmp_path, preview_body("shared")), "shared", "--max-attempts", "4"), sleep=waits
    )

    assert code == 1
    assert len(github.requests("GET")) == 4
    assert waits == [1.0, 2.0, 4.0]
    error = capsys.readouterr().err
    assert "listing comments of contoso/stackhub-ha#7 failed after 4 attempts: HTTP 503" in error


def test_github_post_whose_answer_is_lost_is_not_posted_twice(github: FakeGitHub, tmp_path: Path) -> None:
    github.fail("POST", r"/comments$", 502, after=True)

    assert publish.main(github_args(github, body_file(tmp_path, preview_body("hub-denver")), "hub-denver")) == 0

    assert len(github.comments) == 1
    assert len(github.requests("POST")) == 1
    assert len(github.requests("PATCH")) == 1


def test_github_bad_token_is_one_clear_line_without_the_token(github: FakeGitHub, tmp_path: Path) -> None:
    wrong = "ghs_WrongTokenThatMustNeverBePrinted42"
    result = run_cli(github_args(github, body_file(tmp_path, preview_body("hub-seattle")), "hub-seattle"), wrong)

    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr
    assert "GitHub: listing comments of contoso/stackhub-ha#7 failed: HTTP 401" in result.stderr
    assert wrong not in result.stderr
    assert github.requests("GET")[0].headers["authorization"] == f"Bearer {wrong}"  # it was sent, then hidden


def test_github_missing_token_is_reported_before_any_request(github: FakeGitHub, tmp_path: Path) -> None:
    result = run_cli(github_args(github, body_file(tmp_path, preview_body("shared")), "shared"), token="")

    assert result.returncode == 1
    assert "GitHub: the token variable GITHUB_TOKEN is empty or not set" in result.stderr
    assert github.recorded == []


def test_github_refuses_a_body_over_65536_characters(
    github: FakeGitHub, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = body_file(tmp_path, preview_body("hub-seattle", "x" * 65_536))

    assert publish.main(github_args(github, body, "hub-seattle")) == 1

    assert github.recorded == []
    assert "more than the 65,536 a comment may hold" in capsys.readouterr().err


def test_github_does_not_follow_a_next_page_on_another_host(
    github: FakeGitHub, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    github.fail("GET", r"/comments$", 200, headers={"Link": '<http://127.0.0.2:9/steal?page=2>; rel="next"'}, body=[])

    assert publish.main(github_args(github, body_file(tmp_path, preview_body("shared")), "shared")) == 1

    assert "outside" in capsys.readouterr().err
    assert github.requests("POST") == []


def test_token_is_never_sent_over_plain_http_to_another_machine(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [
        "github", "--api-url", "http://api.example.test", "--repo", "o/r", "--pr", "1", "--stack", "shared",
        "--body-file", str(body_file(tmp_path, preview_body("shared"))), "--head-sha", HEAD, "--head-time", TIME,
    ]  # fmt: skip

    assert publish.main(args) == 1

    assert "refusing to send the token over plain HTTP" in capsys.readouterr().err


def test_a_body_marked_for_another_stack_is_refused(
    github: FakeGitHub, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert publish.main(github_args(github, body_file(tmp_path, preview_body("hub-denver")), "hub-seattle")) == 1

    assert "marked for stack 'hub-denver', not 'hub-seattle'" in capsys.readouterr().err
    assert github.recorded == []


def test_a_failed_preview_without_markdown_posts_what_failed(github: FakeGitHub, tmp_path: Path) -> None:
    empty = body_file(tmp_path, "")
    stderr = tmp_path / "preview.err"
    stderr.write_text("error: hub-seattle-aks-engine: masterCount 3 -> 5: AKS Engine cannot change it\n")

    code = publish.main(
        github_args(github, empty, "hub-seattle", "--preview-exit-code", "1", "--preview-stderr", str(stderr))
    )

    assert code == 0
    (body,) = github.bodies()
    assert body.startswith("<!-- stackhub-ha-preview stack=hub-seattle ")
    assert "Offline preview of stack `hub-seattle` failed** (exit code 1)" in body
    assert "masterCount 3 -> 5" in body


def test_an_empty_comment_from_a_successful_preview_is_an_error(
    github: FakeGitHub, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert publish.main(github_args(github, body_file(tmp_path, "\n"), "shared")) == 1

    assert "is empty" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("time", "message"),
    [("2025-03-04T10:00:00", "has no timezone"), ("yesterday", "not an ISO 8601")],
)
def test_head_time_must_be_an_iso_time_with_a_zone(
    github: FakeGitHub, tmp_path: Path, capsys: pytest.CaptureFixture[str], time: str, message: str
) -> None:
    assert publish.main(github_args(github, body_file(tmp_path, preview_body("shared")), "shared", time=time)) == 1

    assert message in capsys.readouterr().err


# --- Azure Repos ------------------------------------------------------------------------------------------------


def test_azure_opens_one_thread_per_stack(azure: FakeAzureRepos, tmp_path: Path) -> None:
    assert publish.main(azure_args(azure, body_file(tmp_path, preview_body("hub-denver")), "hub-denver")) == 0

    (post,) = azure.requests("POST")
    assert post.path == (f"/contoso/Stack%20Hub/_apis/git/repositories/{azure.repository}/pullRequests/42/threads")
    assert post.query["api-version"] == ["7.1"]
    assert post.headers["authorization"] == f"Bearer {TOKEN}"
    assert post.body["status"] == 1
    assert azure.first_contents()[0].startswith(
        f"<!-- stackhub-ha-preview stack=hub-denver head={HEAD} time=2025-03-04T09:00:00Z -->\n"
    )


def test_azure_edits_the_first_comment_of_its_own_thread(azure: FakeAzureRepos, tmp_path: Path) -> None:
    azure.add_thread("Please check the NSG rules", author="Reviewer")
    # A deleted thread does not count, even one that claims a newer head.
    azure.add_thread(posted("hub-seattle", "abcdef0", "2025-03-05T00:00:00Z"), deleted=True)
    ours = azure.add_thread(posted("hub-seattle", OLDER, "2025-03-01T00:00:00Z"), replies=2)
    other = azure.add_thread(posted("hub-denver", OLDER, "2025-03-01T00:00:00Z", text="denver's"))

    assert publish.main(azure_args(azure, body_file(tmp_path, preview_body("hub-seattle")), "hub-seattle")) == 0

    assert azure.requests("POST") == []
    (patch,) = azure.requests("PATCH")
    assert patch.path.endswith(f"/threads/{ours['id']}/comments/1")
    assert "+ 3 to create" in ours["comments"][0]["content"]
    assert [c["content"] for c in ours["comments"][1:]] == ["reply 0", "reply 1"]
    assert other["comments"][0]["content"].endswith("denver's\n")


def test_azure_keeps_a_thread_of_a_newer_head(azure: FakeAzureRepos, tmp_path: Path) -> None:
    newer = azure.add_thread(posted("global", "abcdef0", "2025-03-05T00:00:00Z", text="newer"))

    assert publish.main(azure_args(azure, body_file(tmp_path, preview_body("global")), "global")) == 0

    assert azure.requests("PATCH") == azure.requests("POST") == []
    assert newer["comments"][0]["content"].endswith("newer\n")


def test_azure_follows_continuation_tokens(tmp_path: Path) -> None:
    with FakeAzureRepos(token=TOKEN, page_size=2) as azure:
        for i in range(5):
            azure.add_thread(f"thread {i}", author="Reviewer")
        ours = azure.add_thread(posted("shared", OLDER, "2025-03-01T00:00:00Z"))

        assert publish.main(azure_args(azure, body_file(tmp_path, preview_body("shared")), "shared")) == 0

        assert len(azure.requests("GET")) == 3
        assert azure.requests("POST") == []
        assert "+ 3 to create" in ours["comments"][0]["content"]


def test_azure_waits_out_429_as_retry_after_says(azure: FakeAzureRepos, tmp_path: Path) -> None:
    azure.fail("GET", r"/threads$", 429, headers={"Retry-After": "12"}, times=2)
    waits = Waits()

    code = publish.main(azure_args(azure, body_file(tmp_path, preview_body("shared")), "shared"), sleep=waits)

    assert code == 0
    assert waits == [12.0, 12.0]
    assert len(azure.threads) == 1


def test_azure_bad_token_is_one_clear_line_without_the_token(azure: FakeAzureRepos, tmp_path: Path) -> None:
    wrong = "AzureDevOpsSystemAccessTokenThatMustStayHidden"
    result = run_cli(azure_args(azure, body_file(tmp_path, preview_body("shared")), "shared"), wrong)

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "Azure Repos: listing threads of pull request 42 of Stack Hub/" in result.stderr
    assert "failed: HTTP 401" in result.stderr
    assert wrong not in result.stderr + result.stdout


def test_azure_takes_a_body_github_would_refuse_and_refuses_over_150000(azure: FakeAzureRepos, tmp_path: Path) -> None:
    big = body_file(tmp_path, preview_body("hub-seattle", "x" * 100_000))
    assert publish.main(azure_args(azure, big, "hub-seattle")) == 0

    too_big = body_file(tmp_path, preview_body("hub-seattle", "x" * 150_000))
    assert publish.main(azure_args(azure, too_big, "hub-seattle")) == 1
    assert len(azure.requests("PATCH")) == 0


def test_azure_reads_the_pipeline_variables(
    azure: FakeAzureRepos, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYSTEM_COLLECTIONURI", azure.collection_uri)
    monkeypatch.setenv("SYSTEM_TEAMPROJECT", azure.project)
    monkeypatch.setenv("BUILD_REPOSITORY_ID", azure.repository)
    monkeypatch.setenv("SYSTEM_PULLREQUEST_PULLREQUESTID", str(azure.number))
    args = [
        "azure-repos", "--stack", "global", "--body-file", str(body_file(tmp_path, preview_body("global"))),
        "--head-sha", HEAD, "--head-time", TIME, "--thread-status", "closed",
    ]  # fmt: skip

    assert publish.main(args) == 0

    assert azure.requests("POST")[0].body["status"] == 4


# --- the two halves together ------------------------------------------------------------------------------------


def test_the_offline_previews_markdown_is_posted_with_only_its_marker_line_changed(
    github: FakeGitHub, tmp_path: Path
) -> None:
    preview = subprocess.run(
        [sys.executable, "-m", "preview", "shared", "--diff", "HEAD", "--markdown", "--comment-limit", "65000"],
        cwd=ROOT, check=False, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert preview.returncode == 0, preview.stderr
    body = body_file(tmp_path, preview.stdout)

    assert publish.main(github_args(github, body, "shared")) == 0

    (posted_body,) = github.bodies()
    first, rest = posted_body.split("\n", 1)
    assert first == f"<!-- stackhub-ha-preview stack=shared head={HEAD} time=2025-03-04T09:00:00Z -->"
    assert rest == preview.stdout.split("\n", 1)[1]
