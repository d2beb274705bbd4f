"""A Hugging Face Hub on 127.0.0.1 for the round-trip tests, driven by the real, unpatched huggingface_hub client.

It speaks the routes listed in shared/docs/hub-protocol.md (huggingface_hub 2.4): repo creation, YAML validation,
preupload, the LFS batch API and PUT, NDJSON commits, branches, tags, refs, trees, paths-info, commits, model
search and file resolution with the headers the client caches by. Faults can be injected per route: an HTTP 500,
a hang, or a dropped connection. Every request is recorded as (method, route name) for the contract test.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

import yaml


def git_blob_sha(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class Commit:
    sha: str
    parent: str | None
    files: dict[str, tuple[bytes, bool]]  # path -> (content, stored as LFS)
    title: str
    message: str = ""
    date: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()))


@dataclass
class Repo:
    repo_id: str
    repo_type: str
    private: bool = False
    commits: dict[str, Commit] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    prs: int = 0

    def resolve(self, revision: str) -> str | None:
        revision = unquote(revision)
        if revision in self.branches:
            return self.branches[revision]
        if revision in self.tags:
            return self.tags[revision]
        return revision if revision in self.commits else None


@dataclass
class Fault:
    route: str
    mode: str  # an HTTP status ("500", "401", ...), "gated" (403 GatedRepo), "hang" (then served) or "drop"
    times: int = 1
    seconds: float = 30.0


ROUTES = [  # (method, name, pattern); {t} = models|datasets|spaces
    ("GET", "whoami", r"/api/whoami-v2"),
    ("POST", "create", r"/api/repos/create"),
    ("DELETE", "delete", r"/api/repos/delete"),
    ("POST", "validate-yaml", r"/api/validate-yaml"),
    ("POST", "preupload", r"/api/(?P<t>models|datasets|spaces)/(?P<repo>[^/]+/[^/]+)/preupload/(?P<rev>[^/]+)"),
    ("POST", "commit", r"/api/(?P<t>models|datasets|spaces)/(?P<repo>[^/]+/[^/]+)/commit/(?P<rev>[^/]+)"),
    ("POST", "branch", r"/api/(?P<t>models|datasets|spaces)/(?P<repo>[^/]+/[^/]+)/branch/(?P<rev>[^/]+)"),
    ("POST", "tag", r"/api/(?P<t>models|datasets|spaces)/(?P<repo>[^/]+/[^/]+)/tag/(?P<rev>[^/]+)"),
    ("GET", "refs", r"/api/(?P<t>models|datasets|spaces)/(?P<repo>[^/]+/[^/]+)/refs"),
    ("GET", "commits", r"/api/(?P<t>models|datasets|spaces)/(?P<repo>[^/]+/[^/]+)/commits/(?P<rev>[^/]+)"),
    ("GET", "tree", r"/api/(?P<t>models|datasets|spaces)/(?P<repo>[^/]+/[^/]+)/tree/(?P<rev>[^/]+)(?:/(?P<path>.*))?"),
    ("POST", "paths-info", r"/api/(?P<t>models|datasets|spaces)/(?P<repo>[^/]+/[^/]+)/paths-info/(?P<rev>[^/]+)"),
    ("GET", "info-revision", r"/api/(?P<t>models|datasets|spaces)/(?P<repo>[^/]+/[^/]+)/revision/(?P<rev>[^/]+)"),
    ("GET", "info", r"/api/(?P<t>models|datasets|spaces)/(?P<repo>[^/]+/[^/]+)"),
    ("GET", "list", r"/api/(?P<t>models|datasets|spaces)"),
    ("POST", "lfs-batch", r"/(?:(?P<t>datasets|spaces)/)?(?P<repo>[^/]+/[^/]+)\.git/info/lfs/objects/batch"),
    ("PUT", "lfs-upload", r"/lfs-upload/(?P<oid>[0-9a-f]{64})"),
    ("HEAD", "resolve", r"/(?:(?P<t>datasets|spaces)/)?(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<path>.+)"),
    ("GET", "resolve", r"/(?:(?P<t>datasets|spaces)/)?(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<path>.+)"),
]


class HubServer:
    """Start with `start()`; `url` is the endpoint; `stop()` shuts it down (the data stay for a restart)."""

    def __init__(self, lfs: bool = True) -> None:
        self.repos: dict[tuple[str, str], Repo] = {}
        self.lfs_objects: dict[str, bytes] = {}
        self.lfs = lfs  # False: preupload answers "regular" for every file (the Xet-on path)
        self.faults: list[Fault] = []
        self.hits: list[tuple[str, str]] = []
        self.lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> HubServer:
        handler = type("Handler", (_Handler,), {"hub": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def inject(self, route: str, mode: str, times: int = 1, seconds: float = 30.0) -> None:
        self.faults.append(Fault(route, mode, times, seconds))

    def take_fault(self, route: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.route == route and fault.times > 0:
                    fault.times -= 1
                    return fault
        return None

    # --- state helpers ---------------------------------------------------------------------------------------
    def new_commit(self, repo: Repo, parent: str | None, files: dict[str, tuple[bytes, bool]], title: str,
                   message: str = "") -> Commit:
        seed = json.dumps([parent, sorted((p, git_blob_sha(c)) for p, (c, _) in files.items()), title, time.time()])
        commit = Commit(hashlib.sha1(seed.encode()).hexdigest(), parent, files, title, message)
        repo.commits[commit.sha] = commit
        return commit


class _Handler(BaseHTTPRequestHandler):
    hub: HubServer
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    # --- plumbing ----------------------------------------------------------------------------------------------
    def _dispatch(self, method: str) -> None:
        parsed = urlparse(self.path)
        for route_method, name, pattern in ROUTES:
            match = re.fullmatch(pattern, parsed.path)
            if route_method == method and match:
                self.hub.hits.append((method, name))
                body = self._body()  # always consume the request, or the kept-alive connection desynchronises
                fault = self.hub.take_fault(name)
                if fault and fault.mode == "hang":
                    time.sleep(fault.seconds)
                if fault and fault.mode == "drop":
                    self.close_connection = True
                    self.connection.close()
                    return
                if fault and fault.mode == "gated":
                    return self._error(403, "GatedRepo", f"Access to model {match.groupdict().get('repo')} is "
                                       f"restricted and you are not in the authorized list")
                if fault and fault.mode.isdigit():
                    return self._json({"error": "injected failure"}, int(fault.mode))
                params = {k: v for k, v in match.groupdict().items() if v is not None}
                with self.hub.lock:
                    return getattr(self, "_" + name.replace("-", "_"))(params, parse_qs(parsed.query), body)
        self._json({"error": f"no route {method} {parsed.path}"}, 404)

    def do_GET(self) -> None:  # noqa: N802
        self._dispatch("GET")

    def do_HEAD(self) -> None:  # noqa: N802
        self._dispatch("HEAD")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def do_PUT(self) -> None:  # noqa: N802
        self._dispatch("PUT")

    def do_DELETE(self) -> None:  # noqa: N802
        self._dispatch("DELETE")

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None,
              content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, data: Any, status: int = 200, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(data).encode(), headers)

    def _error(self, status: int, code: str, message: str, commit: str | None = None) -> None:
        headers = {"X-Error-Code": code, "X-Error-Message": message}
        if commit:
            headers["X-Repo-Commit"] = commit
        self._json({"error": message}, status, headers)

    def _repo(self, params: dict[str, str]) -> Repo | None:
        repo_type = (params.get("t") or "models").rstrip("s")
        repo = self.hub.repos.get((repo_type, params["repo"]))
        if repo is None:
            self._error(404, "RepoNotFound", f"Repository {params['repo']} not found")
        return repo

    def _commit_of(self, repo: Repo, revision: str) -> Commit | None:
        sha = repo.resolve(revision)
        if sha is None:
            self._error(404, "RevisionNotFound", f"Invalid rev id: {unquote(revision)}")
            return None
        return repo.commits[sha]

    def _entry(self, path: str, content: bytes, lfs: bool) -> dict[str, Any]:
        entry: dict[str, Any] = {"type": "file", "oid": git_blob_sha(content), "size": len(content), "path": path}
        if lfs:
            entry["lfs"] = {"oid": hashlib.sha256(content).hexdigest(), "size": len(content), "pointerSize": 134}
        return entry

    # --- routes ------------------------------------------------------------------------------------------------
    def _whoami(self, params, query, body) -> None:
        self._json({"type": "user", "name": "tester", "fullname": "Test User", "orgs": [],
                    "auth": {"accessToken": {"displayName": "test", "role": "write"}}})

    def _create(self, params, query, body) -> None:
        data = json.loads(body or b"{}")
        repo_id = f"{data.get('organization') or 'tester'}/{data['name']}"
        repo_type = data.get("type") or "model"
        url = f"{self.hub.url}/{'' if repo_type == 'model' else repo_type + 's/'}{repo_id}"
        if (repo_type, repo_id) in self.hub.repos:
            return self._json({"error": "You already created this repo", "url": url}, 409)
        repo = Repo(repo_id, repo_type, bool(data.get("private")))
        gitattributes = b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n"
        first = self.hub.new_commit(repo, None, {".gitattributes": (gitattributes, False)}, "initial commit")
        repo.branches["main"] = first.sha
        self.hub.repos[(repo_type, repo_id)] = repo
        self._json({"url": url, "name": repo_id})

    def _delete(self, params, query, body) -> None:
        data = json.loads(body or b"{}")
        self.hub.repos.pop((data.get("type") or "model", f"{data.get('organization') or 'tester'}/{data['name']}"),
                           None)
        self._json({})

    def _validate_yaml(self, params, query, body) -> None:
        content = json.loads(body or b"{}").get("content", "")
        errors = []
        match = re.match(r"^---\n(.*?)\n---", content, re.S)
        meta = yaml.safe_load(match.group(1)) if match else {}
        for key in ("base_model", "datasets"):
            values = meta.get(key) or []
            for value in [values] if isinstance(values, str) else values:
                if value.startswith(("/", ".", "~")) or value.count("/") > 1:
                    errors.append({"message": f"\"{key}\" must be Hub ids, got local path {value!r}"})
        self._json({"errors": errors, "warnings": []}, 400 if errors else 200)

    def _preupload(self, params, query, body) -> None:
        repo = self._repo(params)
        if repo is None:
            return
        commit = self._commit_of(repo, params["rev"]) if repo.resolve(params["rev"]) else None
        files = []
        for item in json.loads(body)["files"]:
            lfs = self.hub.lfs and (item["path"].endswith(".safetensors") or item["size"] > 10_000_000)
            existing = commit.files.get(item["path"]) if commit else None
            oid = None
            if existing is not None:
                oid = hashlib.sha256(existing[0]).hexdigest() if lfs else git_blob_sha(existing[0])
            files.append({"path": item["path"], "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False,
                          "oid": oid})
        self._json({"files": files, "commitOid": commit.sha if commit else None})

    def _lfs_batch(self, params, query, body) -> None:
        objects = []
        for obj in json.loads(body)["objects"]:
            entry: dict[str, Any] = {"oid": obj["oid"], "size": obj["size"], "authenticated": True}
            if obj["oid"] not in self.hub.lfs_objects:
                entry["actions"] = {"upload": {"href": f"{self.hub.url}/lfs-upload/{obj['oid']}", "header": {}}}
            objects.append(entry)
        self._send(200, json.dumps({"transfer": "basic", "objects": objects}).encode(),
                   content_type="application/vnd.git-lfs+json")

    def _lfs_upload(self, params, query, body) -> None:
        if hashlib.sha256(body).hexdigest() != params["oid"]:
            return self._json({"error": "sha256 mismatch"}, 400)
        self.hub.lfs_objects[params["oid"]] = body
        self._json({})

    def _commit(self, params, query, body) -> None:
        repo = self._repo(params)
        if repo is None:
            return
        revision = unquote(params["rev"])
        create_pr = query.get("create_pr", ["0"])[0] in ("1", "true", "True")
        head = repo.resolve(revision)
        if head is None:
            return self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
        header, files = {}, dict(repo.commits[head].files)
        for line in body.decode().splitlines():
            if not line.strip():
                continue
            item = json.loads(line)
            key, value = item["key"], item["value"]
            if key == "header":
                header = value
            elif key == "file":
                files[value["path"]] = (base64.b64decode(value["content"]), False)
            elif key == "lfsFile":
                if value["oid"] not in self.hub.lfs_objects:
                    return self._json({"error": f"LFS object {value['oid']} was never uploaded"}, 400)
                files[value["path"]] = (self.hub.lfs_objects[value["oid"]], True)
            elif key == "deletedFile":
                files.pop(value["path"], None)
            elif key == "deletedFolder":
                files = {p: c for p, c in files.items() if not p.startswith(value["path"].rstrip("/") + "/")}
        parent = header.get("parentCommit")
        if parent and parent != head:
            return self._json({"error": "A commit has happened since. Please refresh and try again."}, 412)
        commit = self.hub.new_commit(repo, head, files, header.get("summary", ""), header.get("description", ""))
        pr_url = None
        if create_pr:
            repo.prs += 1
            repo.branches[f"refs/pr/{repo.prs}"] = commit.sha
            pr_url = f"{self.hub.url}/{repo.repo_id}/discussions/{repo.prs}"
        else:
            repo.branches[revision if revision in repo.branches else "main"] = commit.sha
        self._json({"commitUrl": f"{self.hub.url}/{repo.repo_id}/commit/{commit.sha}", "commitOid": commit.sha,
                    "pullRequestUrl": pr_url})

    def _branch(self, params, query, body) -> None:
        repo = self._repo(params)
        if repo is None:
            return
        name = unquote(params["rev"])
        if name in repo.branches:
            return self._error(409, "BranchAlreadyExists", f"Reference already exists: {name}")
        start = json.loads(body or b"{}").get("startingPoint") or "main"
        sha = repo.resolve(start)
        if sha is None:
            return self._error(404, "RevisionNotFound", f"Invalid rev id: {start}")
        repo.branches[name] = sha
        self._json({})

    def _tag(self, params, query, body) -> None:
        repo = self._repo(params)
        if repo is None:
            return
        sha = repo.resolve(params["rev"])
        if sha is None:
            return self._error(404, "RevisionNotFound", f"Invalid rev id: {unquote(params['rev'])}")
        tag = json.loads(body)["tag"]
        if tag in repo.tags:
            return self._error(409, "TagAlreadyExists", f"Tag {tag} already exists")
        repo.tags[tag] = sha
        self._json({})

    def _refs(self, params, query, body) -> None:
        repo = self._repo(params)
        if repo is None:
            return
        self._json({"branches": [{"name": n, "ref": f"refs/heads/{n}", "targetCommit": s}
                                 for n, s in repo.branches.items() if not n.startswith("refs/pr/")],
                    "tags": [{"name": n, "ref": f"refs/tags/{n}", "targetCommit": s} for n, s in repo.tags.items()],
                    "converts": []})

    def _commits(self, params, query, body) -> None:
        repo = self._repo(params)
        commit = repo and self._commit_of(repo, params["rev"])
        if not commit:
            return
        out = []
        while commit is not None:
            out.append({"id": commit.sha, "title": commit.title, "message": commit.message, "date": commit.date,
                        "authors": [{"user": "tester"}]})
            commit = repo.commits.get(commit.parent) if commit.parent else None
        self._json(out)

    def _tree(self, params, query, body) -> None:
        repo = self._repo(params)
        commit = repo and self._commit_of(repo, params["rev"])
        if not commit:
            return
        prefix = (params.get("path") or "").strip("/")
        recursive = query.get("recursive", ["false"])[0] in ("1", "true", "True")
        entries, folders = [], set()
        for path, (content, lfs) in sorted(commit.files.items()):
            if prefix and not path.startswith(prefix + "/"):
                continue
            rest = path[len(prefix) + 1:] if prefix else path
            if "/" in rest and not recursive:
                folders.add((prefix + "/" if prefix else "") + rest.split("/")[0])
                continue
            if recursive:
                parts = rest.split("/")[:-1]
                for i in range(len(parts)):
                    folders.add((prefix + "/" if prefix else "") + "/".join(parts[: i + 1]))
            entries.append(self._entry(path, content, lfs))
        entries += [{"type": "directory", "oid": hashlib.sha1(f.encode()).hexdigest(), "size": 0, "path": f}
                    for f in sorted(folders)]
        self._json(entries)

    def _paths_info(self, params, query, body) -> None:
        repo = self._repo(params)
        commit = repo and self._commit_of(repo, params["rev"])
        if not commit:
            return
        form = parse_qs(body.decode())
        paths = form.get("paths", [])
        if not paths and body.strip().startswith(b"{"):
            paths = json.loads(body).get("paths", [])
        entries = [self._entry(p, *commit.files[p]) for p in paths if p in commit.files]
        folders = {p for p in paths if any(f.startswith(p.rstrip("/") + "/") for f in commit.files)}
        entries += [{"type": "directory", "oid": hashlib.sha1(f.encode()).hexdigest(), "size": 0, "path": f}
                    for f in sorted(folders)]
        self._json(entries)

    def _info_payload(self, repo: Repo, commit: Commit) -> dict[str, Any]:
        card, tags = {}, []
        readme = commit.files.get("README.md")
        if readme:
            match = re.match(r"^---\n(.*?)\n---", readme[0].decode(), re.S)
            card = (yaml.safe_load(match.group(1)) or {}) if match else {}
            tags = list(card.get("tags") or []) + ([card["library_name"]] if card.get("library_name") else [])
        return {"_id": repo.repo_id, "id": repo.repo_id, "modelId": repo.repo_id, "sha": commit.sha,
                "private": repo.private, "disabled": False, "gated": False, "tags": tags, "cardData": card,
                "library_name": card.get("library_name"), "siblings": [{"rfilename": p} for p in sorted(commit.files)],
                "lastModified": commit.date, "createdAt": commit.date, "downloads": 0, "likes": 0}

    def _info(self, params, query, body) -> None:
        repo = self._repo(params)
        commit = repo and self._commit_of(repo, "main")
        if commit:
            self._json(self._info_payload(repo, commit))

    def _info_revision(self, params, query, body) -> None:
        repo = self._repo(params)
        commit = repo and self._commit_of(repo, params["rev"])
        if commit:
            self._json(self._info_payload(repo, commit))

    def _list(self, params, query, body) -> None:
        wanted = set(query.get("filter", [])) | set(query.get("tags", []))
        repo_type = params["t"].rstrip("s")
        out = []
        for (kind, _), repo in sorted(self.hub.repos.items()):
            if kind != repo_type or repo.private:
                continue
            payload = self._info_payload(repo, repo.commits[repo.branches["main"]])
            if wanted <= set(payload["tags"]):
                out.append(payload)
        self._json(out)

    def _resolve(self, params, query, body) -> None:
        repo = self._repo(params)
        if repo is None:
            return
        sha = repo.resolve(params["rev"])
        if sha is None:
            return self._error(404, "RevisionNotFound", f"Invalid rev id: {unquote(params['rev'])}")
        path = unquote(params["path"])
        found = repo.commits[sha].files.get(path)
        if found is None:
            return self._error(404, "EntryNotFound", f"{path} does not exist at {sha}", commit=sha)
        content, lfs = found
        etag = hashlib.sha256(content).hexdigest() if lfs else git_blob_sha(content)
        headers = {"X-Repo-Commit": sha, "ETag": f'"{etag}"', "Accept-Ranges": "bytes"}
        if lfs:
            headers.update({"X-Linked-Etag": f'"{etag}"', "X-Linked-Size": str(len(content))})
        byte_range = self.headers.get("Range")
        if byte_range and self.command == "GET":
            start = int(re.match(r"bytes=(\d+)-", byte_range).group(1))
            headers["Content-Range"] = f"bytes {start}-{len(content) - 1}/{len(content)}"
            return self._send(206, content[start:], headers, "application/octet-stream")
        self._send(200, content, headers, "application/octet-stream")


def point_client_at(monkeypatch, tmp_path, url: str, xet: bool = False) -> None:
    """Point the real huggingface_hub client at a loopback Hub for one test (Xet off unless `xet`)."""
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "ENDPOINT", url)
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", url + "/{repo_id}/resolve/{revision}/{filename}")
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", not xet)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_TOKEN", "hf_loopback_test_token")
    monkeypatch.setenv("HUBSTITCH_HUB_TIMEOUT", "3")
