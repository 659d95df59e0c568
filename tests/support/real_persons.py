"""Who is who in the real multi-person clips (tests/data/real/reference/persons.json, labelled by eye from
contact sheets of geometry-only tracklets; see PERSONS.md there) and how a store's persons are judged.

Each labelled reference face is matched to a stored face of its frame as real_footage matches faces. For
each real person: the share of their matched faces that carry their most common person id (a face without
a person counts against it). For each person id: which real people its faces belong to; an id holding
faces of two real people mixes them. Faces labelled `unknown` or `not_a_face` are not scored; `strict`
also leaves out the faces whose label carries a doubt.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from support.real_footage import REFERENCE_DIR, assign, read_store

PERSONS_FILE = REFERENCE_DIR / "persons.json"


def labelled_clips() -> list[str]:
    """Stems of the clips with person labels."""
    return sorted(json.loads(PERSONS_FILE.read_text())["clips"])


@dataclass
class PersonsScore:
    """A store's persons against the labels of one clip."""

    clip: str
    share: dict[str, float] = field(default_factory=dict)  # real person -> share on their main id
    main_id: dict[str, int | None] = field(default_factory=dict)
    matched: dict[str, int] = field(default_factory=dict)  # real person -> matched faces
    mixed: dict[int, dict[str, int]] = field(default_factory=dict)  # id -> {real person: faces}, >1 person

    def worst_share(self, min_faces: int = 1) -> float:
        """The lowest share over the real people with at least `min_faces` matched faces."""
        shares = [s for p, s in self.share.items() if self.matched[p] >= min_faces]
        return min(shares, default=1.0)

    def report(self) -> str:
        lines = [f"{self.clip}: persons against the labels"]
        for p in sorted(self.share, key=lambda p: -self.matched[p]):
            lines.append(
                f"  {p}: {self.matched[p]} matched faces, {self.share[p]:.3f} on person {self.main_id[p]}"
            )
        for pid, people in sorted(self.mixed.items()):
            lines.append(f"  person {pid} mixes " + ", ".join(f"{p} ({n})" for p, n in people.items()))
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.report()


def score_persons(store_path: str | Path, clip: str, strict: bool = False) -> PersonsScore:
    """Compare a store's person ids with the clip's person labels."""
    data = json.loads(PERSONS_FILE.read_text())
    unscored = set(data["unscored"])
    labels = data["clips"][clip]
    by_frame: dict[int, list[tuple[tuple[float, float, float, float], str]]] = {}
    for t in labels["tracklets"]:
        if t["person"] in unscored or (strict and t.get("doubt")):
            continue
        for frame, *box in t["boxes"]:
            by_frame.setdefault(int(frame), []).append((tuple(box), t["person"]))
    stored, _ = read_store(store_path)
    ids: dict[str, list[int | None]] = {}
    people_of: dict[int, Counter] = {}
    for frame, faces in by_frame.items():
        found = stored.get(frame, [])
        pairs = assign([box for box, _ in faces], found)
        for i, j in pairs.items():
            person = faces[i][1]
            pid = found[j].person_id
            ids.setdefault(person, []).append(pid)
            if pid is not None:
                people_of.setdefault(pid, Counter())[person] += 1
    score = PersonsScore(clip)
    for person, got in ids.items():
        main, n = Counter(got).most_common(1)[0]
        if main is None:
            n = 0
        score.share[person] = n / len(got)
        score.main_id[person] = main
        score.matched[person] = len(got)
    score.mixed = {pid: dict(c) for pid, c in people_of.items() if len(c) > 1}
    return score
