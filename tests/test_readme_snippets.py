"""The code the README tells users to copy is safe on a hostile shard: its webdataset snippet decodes
the images and records it names and leaves a `.pickle` member as bytes, never running it."""
from __future__ import annotations

import io
import json
import os
import pickle
import re
import tarfile
from pathlib import Path

from PIL import Image

README = Path(__file__).resolve().parents[1] / "README.md"


class _Payload:
    """Unpickling this touches a file: proof that the pickle ran."""

    def __init__(self, proof: Path) -> None:
        self.proof = proof

    def __reduce__(self):
        return (Path.touch, (self.proof,))


def _snippet(marker: str) -> str:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    (code,) = [b for b in blocks if marker in b]
    return code


def test_the_webdataset_snippet_never_unpickles(tmp_path):
    proof = tmp_path / "payload-ran"
    image = io.BytesIO()
    Image.new("RGB", (8, 8), "white").save(image, "JPEG")
    members = [("k1.jpg", image.getvalue()), ("k1.json", json.dumps({"conversations": [{"role": "user"}]}).encode()),
               ("k1.pickle", pickle.dumps(_Payload(proof)))]
    shard = tmp_path / "hostile.tar"
    with tarfile.open(shard, "w") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    code = _snippet("wds.WebDataset")
    code = re.sub(r'wds\.WebDataset\("[^"]+"', f'wds.WebDataset("{shard}"', code)
    code = code.replace('s["jpg"], s["json"]["conversations"]', 'seen.append(s)')
    scope: dict = {"seen": []}
    exec(compile(code, "README.md", "exec"), scope)  # noqa: S102 - the README's own snippet, on our own file
    (sample,) = scope["seen"]
    assert sample["jpg"].size == (8, 8) and sample["json"]["conversations"] == [{"role": "user"}]
    assert isinstance(sample["pickle"], bytes)
    assert not proof.exists()
    pickle.loads(members[2][1])  # the payload is live: loading it does run it
    assert proof.exists()
    os.remove(proof)
