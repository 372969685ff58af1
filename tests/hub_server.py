"""A small Hub-compatible HTTP server for end-to-end push / download tests, standard library only.

Why our own: no self-hostable Hub that accepts uploads installs from the package registries here
(olah is a read-only mirror, hf-local-hub's wheel lacks its server, KohakuHub needs Docker), and a
mock of ``huggingface_hub`` would prove nothing about the real client. This server speaks the HTTP
routes huggingface_hub 2.4 really calls (read from its source: hf_api.py, _commit_api.py, lfs.py,
file_download.py, _snapshot_download.py) and stores what it receives, so tests can compare bytes:

    POST /api/repos/create                         create_repo (409 when it exists)
    POST /api/validate-yaml                        README.md metadata check before a commit
    GET  /api/whoami-v2                            whoami
    GET  /api/models/{id}[/revision/{rev}]         repo_info / model_info (snapshot_download's first call)
    GET  /api/models/{id}/tree/{rev}[/{path}]      list_repo_tree (snapshot_download, delete_patterns)
    POST /api/models/{id}/preupload/{rev}          upload mode per file ("regular" or "lfs")
    POST /api/models/{id}/branch/{branch}          create_branch
    POST /api/models/{id}/commit/{rev}             the NDJSON commit
    POST /{id}.git/info/lfs/objects/batch          LFS batch (basic transfer) -> PUT + verify below
    PUT  /lfs-upload/{id}/{oid}, POST /lfs-verify/{id}
    HEAD|GET /{id}/resolve/{rev}/{path}            file metadata and download

Xet storage is not implemented: clients must run with ``HF_HUB_DISABLE_XET=1`` (LFS is then used).
Auth follows the Hub: ``Authorization: Bearer <token>``; unknown tokens get 401, writes outside the
token's namespace 403, private repos are invisible (401 RepoNotFound) without the owner's token.
``fail(...)`` injects error responses to test retries and failures.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional
from urllib.parse import parse_qs, unquote, urlsplit

import yaml

GITATTRIBUTES = b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n*.bin filter=lfs diff=lfs merge=lfs -text\n"
LFS_THRESHOLD = 10 * 1024 * 1024  # the Hub stores files from 10 MB in LFS whatever their type


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class StoredFile:
    data: bytes
    lfs: bool

    def meta(self, path: str) -> dict[str, Any]:
        entry: dict[str, Any] = {"type": "file", "path": path, "size": len(self.data), "oid": git_blob_sha1(self.data)}
        if self.lfs:
            entry["lfs"] = {"oid": hashlib.sha256(self.data).hexdigest(), "size": len(self.data), "pointerSize": 134}
        return entry


@dataclass
class Commit:
    oid: str
    message: str
    parent: Optional[str]
    files: dict[str, StoredFile]


@dataclass
class Repo:
    repo_id: str
    private: bool
    branches: dict[str, str] = field(default_factory=dict)
    commits: dict[str, Commit] = field(default_factory=dict)
    lfs_objects: dict[str, bytes] = field(default_factory=dict)

    def head(self, revision: str) -> Optional[Commit]:
        oid = self.branches.get(revision, revision)
        return self.commits.get(oid)

    def history(self, branch: str = "main") -> list[Commit]:
        """Commits of ``branch``, newest first."""
        out, commit = [], self.head(branch)
        while commit is not None:
            out.append(commit)
            commit = self.commits.get(commit.parent) if commit.parent else None
        return out

    def files(self, revision: str = "main") -> dict[str, bytes]:
        commit = self.head(revision)
        return {p: f.data for p, f in commit.files.items()} if commit else {}


class HubError(Exception):
    """An HTTP error answer with the Hub's error headers."""

    def __init__(self, status: int, message: str, code: Optional[str] = None, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.extra = status, message, code, extra


@dataclass
class Fault:
    method: str
    pattern: re.Pattern
    status: int
    remaining: int


class HubState:
    """Repos, tokens, injected faults and a request log, shared by the handler threads."""

    def __init__(self, tokens: dict[str, str]) -> None:
        self.tokens = dict(tokens)
        self.repos: dict[str, Repo] = {}
        self.faults: list[Fault] = []
        self.requests: list[tuple[str, str]] = []
        self.lock = threading.RLock()


class HubServer:
    """``with HubServer({"token": "user"}) as hub: ...`` -- a live server on 127.0.0.1 at ``hub.url``."""

    def __init__(self, tokens: dict[str, str]) -> None:
        self.state = HubState(tokens)
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self.state))
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> HubServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    @property
    def repos(self) -> dict[str, Repo]:
        return self.state.repos

    @property
    def requests(self) -> list[tuple[str, str]]:
        return self.state.requests

    def fail(self, method: str, path_regex: str, status: int = 503, times: int = 1) -> None:
        """Answer the next ``times`` requests matching ``method`` and ``path_regex`` with ``status``."""
        with self.state.lock:
            self.state.faults.append(Fault(method, re.compile(path_regex), status, times))


_REPO = r"(?P<repo>[\w.-]+/[\w.-]+)"
_ROUTES: list[tuple[str, re.Pattern, str]] = [(m, re.compile(p), name) for m, p, name in [
    ("GET", r"^/api/whoami-v2$", "whoami"),
    ("POST", r"^/api/repos/create$", "create_repo"),
    ("POST", r"^/api/validate-yaml$", "validate_yaml"),
    ("GET", rf"^/api/models/{_REPO}(/revision/(?P<rev>[^/]+))?$", "repo_info"),
    ("GET", rf"^/api/models/{_REPO}/tree/(?P<rev>[^/]+)(/(?P<path>.+))?$", "tree"),
    ("POST", rf"^/api/models/{_REPO}/preupload/(?P<rev>[^/]+)$", "preupload"),
    ("POST", rf"^/api/models/{_REPO}/branch/(?P<rev>[^/]+)$", "create_branch"),
    ("POST", rf"^/api/models/{_REPO}/commit/(?P<rev>[^/]+)$", "commit"),
    ("POST", rf"^/{_REPO}\.git/info/lfs/objects/batch$", "lfs_batch"),
    ("PUT", rf"^/lfs-upload/{_REPO}/(?P<oid>[0-9a-f]{{64}})$", "lfs_upload"),
    ("POST", rf"^/lfs-verify/{_REPO}$", "lfs_verify"),
    ("GET", rf"^/{_REPO}/resolve/(?P<rev>[^/]+)/(?P<path>.+)$", "resolve"),
    ("HEAD", rf"^/{_REPO}/resolve/(?P<rev>[^/]+)/(?P<path>.+)$", "resolve"),
]]


def _handler_for(state: HubState) -> type[BaseHTTPRequestHandler]:
    class Handler(_HubHandler):
        hub = state
    return Handler


class _HubHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the client's connection pool expects
    hub: HubState

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002  (quiet test output)
        pass

    # ---- plumbing -----------------------------------------------------------------------------
    def _dispatch(self) -> None:
        url = urlsplit(self.path)
        self.query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        body = self._read_body()
        with self.hub.lock:
            self.hub.requests.append((self.command, url.path))
            fault = next((f for f in self.hub.faults if f.remaining > 0 and f.method == self.command
                          and f.pattern.search(url.path)), None)
            if fault is not None:
                fault.remaining -= 1
        try:
            if fault is not None:
                raise HubError(fault.status, f"injected failure {fault.status}")
            for method, pattern, name in _ROUTES:
                match = pattern.match(url.path)
                if method == self.command and match:
                    params = {k: unquote(v) for k, v in match.groupdict().items() if v is not None}
                    with self.hub.lock:
                        status, payload, headers = getattr(self, f"do_{name}")(body=body, **params)
                    return self._send(status, payload, headers)
            raise HubError(404, f"no route for {self.command} {url.path}")
        except HubError as err:
            headers = {"X-Error-Message": err.message}
            if err.code:
                headers["X-Error-Code"] = err.code
            self._send(err.status, {"error": err.message, **err.extra}, headers)

    do_GET = do_POST = do_PUT = do_HEAD = _dispatch

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _send(self, status: int, payload: Any, headers: Optional[dict[str, str]] = None) -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if not isinstance(payload, bytes):
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    # ---- auth ---------------------------------------------------------------------------------
    def _user(self, required: bool) -> Optional[str]:
        auth = self.headers.get("Authorization", "")
        if not auth:
            if required:
                raise HubError(401, "You must be authenticated to do this: pass a token.")
            return None
        token = auth.removeprefix("Bearer ").strip()
        if token not in self.hub.tokens:
            raise HubError(401, "Invalid credentials in Authorization header")
        return self.hub.tokens[token]

    def _repo(self, repo: str, write: bool = False) -> Repo:
        user = self._user(required=write)
        found = self.hub.repos.get(repo)
        if found is None or (found.private and user != repo.split("/")[0]):
            raise HubError(404 if user else 401, f"Repository Not Found: {repo}", "RepoNotFound")
        if write and user != repo.split("/")[0]:
            raise HubError(403, f"You don't have the rights to write to {repo}")
        return found

    def _commit(self, repo: Repo, rev: str) -> Commit:
        commit = repo.head(rev)
        if commit is None:
            raise HubError(404, f"Invalid rev id: {rev}", "RevisionNotFound")
        return commit

    # ---- API routes ---------------------------------------------------------------------------
    def do_whoami(self, body: bytes) -> tuple:
        return 200, {"type": "user", "name": self._user(required=True)}, {}

    def do_create_repo(self, body: bytes) -> tuple:
        user = self._user(required=True)
        request = json.loads(body)
        namespace = request.get("organization") or user
        repo_id = f"{namespace}/{request['name']}"
        if namespace != user:
            raise HubError(403, f"You don't have the rights to create a model under the namespace \"{namespace}\"")
        if request.get("type", "model") not in (None, "model"):
            raise HubError(400, "this test server only hosts model repos")
        url = f"{self._base()}/{repo_id}"
        if repo_id in self.hub.repos:
            raise HubError(409, "You already created this model repo", url=url)  # the client reads "url"
        private = request.get("visibility", "private" if request.get("private") else "public") == "private"
        repo = Repo(repo_id, private)
        self._new_commit(repo, "main", "initial commit", {".gitattributes": StoredFile(GITATTRIBUTES, False)}, None)
        self.hub.repos[repo_id] = repo
        return 200, {"url": url, "name": repo_id, "id": repo_id}, {}

    def do_validate_yaml(self, body: bytes) -> tuple:
        from huggingface_hub.repocard_data import model_index_to_eval_results

        content = json.loads(body)["content"]
        match = re.match(r"^---\n(.*?)\n---\n", content, re.S)
        try:
            meta = yaml.safe_load(match.group(1)) if match else {}
            if not isinstance(meta, dict):
                raise ValueError("metadata must be a mapping")
            if "model-index" in meta:
                model_index_to_eval_results(meta["model-index"])
        except Exception as err:  # any parse failure is the user's metadata error
            return 400, {"errors": [{"message": f"{type(err).__name__}: {err}"}]}, {}
        return 200, {"errors": [], "warnings": []}, {}

    def do_repo_info(self, body: bytes, repo: str, rev: str = "main") -> tuple:
        stored = self._repo(repo)
        commit = self._commit(stored, rev)
        return 200, {"id": repo, "modelId": repo, "sha": commit.oid, "private": stored.private,
                     "siblings": [{"rfilename": p} for p in sorted(commit.files)]}, {}

    def do_tree(self, body: bytes, repo: str, rev: str, path: str = "") -> tuple:
        commit = self._commit(self._repo(repo), rev)
        recursive = self.query.get("recursive", "false").lower() in ("1", "true")
        prefix = path.strip("/") + "/" if path else ""
        entries: dict[str, dict[str, Any]] = {}
        for name, stored in sorted(commit.files.items()):
            if not name.startswith(prefix):
                continue
            rest = name[len(prefix):].split("/")
            for depth in range(1, len(rest)):  # the folders on the way
                if recursive or depth == 1:
                    folder = prefix + "/".join(rest[:depth])
                    entries.setdefault(folder, {"type": "directory", "path": folder, "size": 0,
                                                "oid": hashlib.sha1(folder.encode()).hexdigest()})
            if recursive or len(rest) == 1:
                entries[name] = stored.meta(name)
        return 200, list(entries.values()), {}

    def do_preupload(self, body: bytes, repo: str, rev: str) -> tuple:
        stored = self._repo(repo, write=True)
        commit = self._commit(stored, rev)
        attributes = commit.files.get(".gitattributes", StoredFile(b"", False)).data.decode()
        patterns = [line.split()[0] for line in attributes.splitlines() if "filter=lfs" in line]
        files = []
        for entry in json.loads(body)["files"]:
            sample = base64.b64decode(entry["sample"])
            lfs = (entry["size"] >= LFS_THRESHOLD or b"\0" in sample
                   or any(fnmatch.fnmatch(entry["path"].rsplit("/", 1)[-1], p) for p in patterns))
            existing = commit.files.get(entry["path"])
            oid = None
            if existing is not None:
                oid = hashlib.sha256(existing.data).hexdigest() if existing.lfs else git_blob_sha1(existing.data)
            files.append({"path": entry["path"], "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False,
                          "oid": oid})
        return 200, {"files": files, "commitOid": commit.oid}, {}

    def do_create_branch(self, body: bytes, repo: str, rev: str) -> tuple:
        stored = self._repo(repo, write=True)
        if rev in stored.branches:
            raise HubError(409, f"Reference already exists: {rev}")
        start = (json.loads(body or b"{}") or {}).get("startingPoint", "main")
        stored.branches[rev] = self._commit(stored, start).oid
        return 200, {}, {}

    def do_commit(self, body: bytes, repo: str, rev: str) -> tuple:
        stored = self._repo(repo, write=True)
        if self.query.get("create_pr"):
            raise HubError(400, "pull requests are not supported by this test server")
        parent = self._commit(stored, rev)
        files = dict(parent.files)
        header: dict[str, Any] = {}
        for line in body.decode().splitlines():
            item = json.loads(line)
            key, value = item["key"], item["value"]
            if key == "header":
                header = value
            elif key == "file":
                files[value["path"]] = StoredFile(base64.b64decode(value["content"]), False)
            elif key == "lfsFile":
                if value["oid"] not in stored.lfs_objects:
                    raise HubError(422, f"LFS object {value['oid']} for {value['path']} was never uploaded")
                files[value["path"]] = StoredFile(stored.lfs_objects[value["oid"]], True)
            elif key == "deletedFile":
                files.pop(value["path"], None)
            elif key == "deletedFolder":
                files = {p: f for p, f in files.items() if not p.startswith(value["path"].rstrip("/") + "/")}
            else:
                raise HubError(400, f"unknown commit operation {key!r}")
        if header.get("parentCommit") and header["parentCommit"] != parent.oid:
            raise HubError(412, "A commit has happened since. Please refresh and try again.")
        oid = self._new_commit(stored, rev, header.get("summary", ""), files, parent.oid)
        return 200, {"success": True, "commitOid": oid, "commitUrl": f"{self._base()}/{repo}/commit/{oid}",
                     "hookOutput": ""}, {}

    def _new_commit(self, repo: Repo, branch: str, message: str, files: dict[str, StoredFile],
                    parent: Optional[str]) -> str:
        digest = hashlib.sha1(f"{parent}:{message}:{len(repo.commits)}".encode())
        for path in sorted(files):
            digest.update(path.encode() + hashlib.sha256(files[path].data).digest())
        oid = digest.hexdigest()
        repo.commits[oid] = Commit(oid, message, parent, files)
        repo.branches[branch] = oid
        return oid

    # ---- LFS ----------------------------------------------------------------------------------
    def do_lfs_batch(self, body: bytes, repo: str) -> tuple:
        stored = self._repo(repo, write=True)
        request = json.loads(body)
        objects = []
        for obj in request["objects"]:
            entry: dict[str, Any] = {"oid": obj["oid"], "size": obj["size"]}
            if obj["oid"] not in stored.lfs_objects:  # no actions = already stored, the client skips it
                entry["actions"] = {
                    "upload": {"href": f"{self._base()}/lfs-upload/{repo}/{obj['oid']}"},
                    "verify": {"href": f"{self._base()}/lfs-verify/{repo}"},
                }
            objects.append(entry)
        return 200, {"transfer": "basic", "objects": objects}, {}

    def do_lfs_upload(self, body: bytes, repo: str, oid: str) -> tuple:
        stored = self.hub.repos[repo]  # signed-URL style: the href itself is the authorisation
        if hashlib.sha256(body).hexdigest() != oid:
            raise HubError(400, "uploaded content does not match its sha256")
        stored.lfs_objects[oid] = body
        return 200, {}, {}

    def do_lfs_verify(self, body: bytes, repo: str) -> tuple:
        stored = self._repo(repo, write=True)
        request = json.loads(body)
        data = stored.lfs_objects.get(request["oid"])
        if data is None or len(data) != request["size"]:
            raise HubError(404, f"LFS object {request['oid']} not found")
        return 200, {"success": True}, {}

    # ---- downloads ----------------------------------------------------------------------------
    def do_resolve(self, body: bytes, repo: str, rev: str, path: str) -> tuple:
        stored = self._repo(repo)
        commit = self._commit(stored, rev)
        file = commit.files.get(path)
        headers = {"X-Repo-Commit": commit.oid}
        if file is None:
            return 404, {"error": "Entry not found"}, {**headers, "X-Error-Code": "EntryNotFound"}
        headers["ETag"] = f'"{git_blob_sha1(file.data)}"'
        if file.lfs:
            headers["X-Linked-Etag"] = f'"{hashlib.sha256(file.data).hexdigest()}"'
            headers["X-Linked-Size"] = str(len(file.data))
        return 200, file.data, headers

    def _base(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"
