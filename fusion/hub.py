"""The Hugging Face Hub: whether it answers, a bridge or probe found by its model repository id, and one commit that
uploads a folder. Everything goes through huggingface_hub, so that its cache (HF_HUB_CACHE), offline mode
(HF_HUB_OFFLINE), endpoint (HF_ENDPOINT), token (HF_TOKEN, `hf auth login`) and the environment's proxies apply.

    locate("checkpoints/pocket-topic-last", None, files)      # a local directory: used as it is
    locate("someone/pocket-topic-last", "v1", files)          # a Hub id: those files of that revision, downloaded
                                                              # once into the Hugging Face cache (or found there)

Only the files named are downloaded (fusion.checkpoint's SERVED_BRIDGE_FILES, SERVED_PROBE_FILES: a JSON config
and safetensors weights): never pickle files, never code. Where the Hub is unreachable, a Hub id loads from the
local cache or fails at once with a message; an upload checks the token and the Hub before it creates anything.
"""
import os
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .errors import CheckpointError, HubError

NOTHING_DONE = "Nothing was created or uploaded."


def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the Hugging Face Hub answers, asked through huggingface_hub's own HTTP session, so that its offline
    mode (HF_HUB_OFFLINE), its endpoint (HF_ENDPOINT, with any scheme and port) and the environment's proxies
    (HTTPS_PROXY, HTTP_PROXY, NO_PROXY) apply exactly as they do to its downloads. Any HTTP answer counts."""
    import httpx2
    from huggingface_hub import constants
    from huggingface_hub.utils import get_session
    if constants.is_offline_mode():
        return False
    try:
        get_session().head(constants.ENDPOINT, timeout=timeout)
        return True
    except (httpx2.HTTPError, OSError):   # offline mode, name resolution, refused, timed out, proxy errors
        return False


def is_repo_id(text: str) -> bool:
    """Whether `text` is a model repository id with its owner, USER/NAME (huggingface_hub's own rules)."""
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id
    if not isinstance(text, str) or text.count("/") != 1:
        return False
    try:
        validate_repo_id(text)
    except HFValidationError:
        return False
    return True


def split_revision(text: str) -> tuple[str, str | None]:
    """"USER/NAME@REVISION" -> ("USER/NAME", "REVISION"); without "@", the revision is None (the default branch)."""
    name, sep, revision = str(text).partition("@")
    return (name, revision or None) if sep else (name, None)


@dataclass(frozen=True)
class Located:
    """Where a checkpoint's files are on this machine, and what names it."""
    path: Path             # the directory holding the files: the local one, or a snapshot in the Hugging Face cache
    source: str            # as results record it: the directory as given, or "USER/NAME@<commit>"
    name: str              # a short name: the directory's, or the repository's


def locate(name_or_path, revision: str | None, files, what: str = "checkpoint") -> Located:
    """A local directory as it is, or the `files` of Hub model repository `name_or_path` at `revision` (a branch,
    tag or commit; default: its default branch). CheckpointError for a name that is neither; HubError where the Hub
    cannot give them (module docstring)."""
    path = Path(str(name_or_path)).expanduser()
    if path.is_dir():
        if revision is not None:
            raise CheckpointError(f"revision={revision!r} is for Hugging Face Hub ids; {str(name_or_path)!r} is a "
                                  f"local directory")
        return Located(path, str(name_or_path), path.resolve().name)
    repo_id = str(name_or_path)
    if not is_repo_id(repo_id):
        raise CheckpointError(f"{what} directory {repo_id!r} does not exist, and it is not a Hugging Face Hub model "
                              f"id either (USER/NAME)")
    folder = download(repo_id, revision, files, what)
    return Located(folder, f"{repo_id}@{folder.name}", repo_id.split("/")[1])


def download(repo_id: str, revision: str | None, files, what: str = "checkpoint") -> Path:
    """The snapshot folder (named by its commit) holding `files` of model repository `repo_id` at `revision`: from
    the Hub where it answers, else from the local Hugging Face cache. Only `files` are fetched; whether they are all
    there is for the reader to check (a repository may lack one)."""
    import httpx2
    from huggingface_hub import constants, snapshot_download
    from huggingface_hub.errors import (GatedRepoError, LocalEntryNotFoundError, RepositoryNotFoundError,
                                        RevisionNotFoundError)
    online = hub_reachable()
    at = f" at revision {revision!r}" if revision else ""
    try:
        return Path(snapshot_download(repo_id, revision=revision, allow_patterns=list(files),
                                      local_files_only=not online))
    except LocalEntryNotFoundError as e:
        if online:
            raise HubError(f"could not download {what} {repo_id!r}{at} from the Hub: {e}") from e
        raise HubError(f"{what} {repo_id!r}{at}: there is no such local directory, and as a Hugging Face Hub model "
                       f"it is not in the local cache ({constants.HF_HUB_CACHE}) while the Hub "
                       f"({constants.ENDPOINT}) cannot be reached from here (HF_HUB_OFFLINE is set, there is no "
                       f"network, or HTTPS_PROXY does not answer). Download it where the Hub is reachable (the "
                       f"same command fills the cache), or pass a local directory.") from e
    except RevisionNotFoundError as e:
        raise HubError(f"the Hub model repository {repo_id!r} has no revision {revision!r} (a branch, tag or "
                       f"commit)") from e
    except GatedRepoError as e:
        raise HubError(f"{repo_id!r} is a gated repository: accept its terms on the Hub and log in "
                       f"(`hf auth login` or HF_TOKEN)") from e
    except RepositoryNotFoundError as e:
        raise HubError(f"{what} {repo_id!r}: there is no such local directory, and no Hub model repository of that "
                       f"name (or it is private: log in with `hf auth login` or set HF_TOKEN)") from e
    except (httpx2.HTTPError, OSError) as e:   # huggingface_hub's HTTP errors are OSErrors too
        raise HubError(f"could not download {what} {repo_id!r}{at} from the Hub ({type(e).__name__}): {e}") from e


# ---------------------------------------------------------------- uploads

def connect(repo_id: str, token: str | None = None, option: str = "repo_id", hint: str = ""):
    """An HfApi with a token, after checking, before anything is created, that `repo_id` is USER/NAME, that there is
    a token and that the Hub answers; otherwise HubError saying what to do (`option`: how the caller's user gives
    the id, `hint`: what they can do offline)."""
    from huggingface_hub import HfApi, constants, get_token
    if not is_repo_id(repo_id or ""):
        raise HubError(f"{option} must be USER/NAME (or ORG/NAME), got {repo_id!r}")
    token = token or get_token()
    if not token:
        raise HubError(f"no Hugging Face token: run `hf auth login` with a token that has write access, or set "
                       f"HF_TOKEN. {NOTHING_DONE}")
    if not hub_reachable():
        raise HubError(f"the Hugging Face Hub ({constants.ENDPOINT}) cannot be reached from here (HF_HUB_OFFLINE is "
                       f"set, there is no network, or HTTPS_PROXY does not answer). {NOTHING_DONE}{hint}")
    return HfApi(token=token)


@contextmanager
def answers():
    """The Hub's HTTP failures inside the block become HubError."""
    import httpx2
    try:
        yield
    except (httpx2.HTTPError, OSError) as e:   # huggingface_hub's HTTP errors are OSErrors too
        raise HubError(f"the Hub refused or failed ({type(e).__name__}): {e}") from e


def push(folder, repo_id: str, files, revision: str | None = None, private: bool = False,
         commit_message: str | None = None, token: str | None = None, option: str = "repo_id",
         hint: str = "") -> str:
    """Upload `files` of `folder` (each must be there) to model repository `repo_id` in one commit, creating the
    repository (and the branch `revision`) where they do not exist; nothing else in the folder goes up.
    -> the commit's URL."""
    folder = Path(folder)
    missing = [name for name in files if not (folder / name).is_file()]
    if missing:
        raise CheckpointError(f"{folder} has no {', '.join(missing)}: nothing to upload. {NOTHING_DONE}")
    api = connect(repo_id, token, option, hint)
    with answers():
        api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
        if revision is not None:
            api.create_branch(repo_id, branch=revision, exist_ok=True)
        commit = api.upload_folder(repo_id=repo_id, repo_type="model", folder_path=folder, revision=revision,
                                   allow_patterns=list(files),
                                   commit_message=commit_message or f"Upload {', '.join(files)}")
    return str(getattr(commit, "commit_url", commit))


@contextmanager
def staged(files: dict):
    """A temporary folder holding exactly `files` (path in the repository -> a local file, hard-linked where
    possible, else copied; or a str, written as UTF-8 text): what an upload_folder of it sends."""
    with tempfile.TemporaryDirectory(prefix="layerbridge-upload-") as folder:
        for path, source in files.items():
            dest = Path(folder) / path
            dest.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(source, str):
                dest.write_text(source, encoding="utf-8")
                continue
            try:
                os.link(source, dest)
            except OSError:
                shutil.copy2(source, dest)
        yield Path(folder)


def sizes_table(sizes: dict, notes: dict | None = None) -> list[str]:
    """A dry run's lines: each path with its size (path -> bytes) and any note on it, in path order."""
    width, notes = max(map(len, sizes), default=0), notes or {}
    return [f"  {path:<{width}} {size / 1e3:>9.1f} kB{notes.get(path, '')}" for path, size in sorted(sizes.items())]

