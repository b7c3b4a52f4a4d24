"""Editing a fitted model: more traffic, another behaviour mix, fewer or renamed actions → a new model.

Every edit returns a new :class:`BehaviourModel` (the input is never changed) and is recorded in
``source["edits"]`` so a file tells how it was derived.

- :func:`scale_arrivals` multiplies the session arrival profile (``×2 traffic``).
- :func:`set_class_shares` sets the shares of some classes; the others keep their proportions and fill
  the rest, so the shares still sum to 1 (``more posters``).
- :func:`drop_actions` removes actions as if users skipped them: the chain is *censored* — a path
  ``a → dropped → b`` becomes ``a → b`` with the probability it had through the dropped action
  (``P'[i, j] = P[i, j] + P[i, d] · P[d, j] / (1 − P[d, d])``), so the remaining actions keep their
  order and relative frequencies. Think laws that involved the dropped action are removed (the ones
  left back off as usual).
- :func:`rename_actions` renames; renaming onto an existing name merges the two actions.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping

import numpy as np

from tracereplay.errors import ConfigError
from tracereplay.model.behaviour import ActionStats, ArrivalProfile, BehaviourModel, UserClass
from tracereplay.model.distributions import Duration


def edit(model: BehaviourModel, *, arrival_scale: float | None = None,
         class_shares: Mapping[str | int, float] | None = None, drop: Iterable[str] = (),
         rename: Mapping[str, str] | None = None, rename_classes: Mapping[str | int, str] | None = None,
         ) -> BehaviourModel:
    """Apply several edits in a fixed order: drop, rename actions, class shares, class names, arrivals.

    Class keys (names or indexes) always refer to the classes of the input model.
    """
    drop = list(drop)
    if drop:
        model = drop_actions(model, drop)
    if rename:
        model = rename_actions(model, rename)
    if class_shares:
        model = set_class_shares(model, class_shares)
    if rename_classes:
        model = _rename_classes(model, rename_classes)
    if arrival_scale is not None:
        model = scale_arrivals(model, arrival_scale)
    return model


def scale_arrivals(model: BehaviourModel, factor: float) -> BehaviourModel:
    """Multiply the session arrival rate of every hour by ``factor``."""
    if not np.isfinite(factor) or factor <= 0:
        raise ConfigError(f"arrival scale must be a positive number (got {factor})")
    arrivals = ArrivalProfile(rate=model.arrivals.rate * factor, observed=model.arrivals.observed)
    return _with(model, f"scale arrivals ×{factor:g}", arrivals=arrivals)


def set_class_shares(model: BehaviourModel, shares: Mapping[str | int, float]) -> BehaviourModel:
    """Set the share of users of the named (or indexed) classes; the others fill the rest in proportion."""
    problems = []
    chosen: dict[int, float] = {}
    for key, share in shares.items():
        index = _class_index(model, key, problems)
        if not 0.0 <= float(share) <= 1.0:
            problems.append(f"class share {share} for {key!r} is not between 0 and 1")
        elif index is not None:
            chosen[index] = float(share)
    rest = [k for k in range(len(model.classes)) if k not in chosen]
    total = sum(chosen.values())
    if total > 1.0 + 1e-9:
        problems.append(f"class shares add up to {total:g} > 1")
    elif not rest and abs(total - 1.0) > 1e-6:
        problems.append(f"every class has a share and they add up to {total:g}, not 1")
    if problems:
        raise ConfigError(problems)
    old_rest = sum(model.classes[k].share for k in rest)
    new = {}
    for k in rest:
        weight = model.classes[k].share / old_rest if old_rest > 0 else 1.0 / len(rest)
        new[k] = (1.0 - total) * weight
    new |= chosen
    classes = [dataclasses.replace(c, share=new[k]) for k, c in enumerate(model.classes)]
    described = ", ".join(f"{model.classes[k].name}={v:g}" for k, v in chosen.items())
    return _with(model, f"class shares {described}", classes=classes)


def drop_actions(model: BehaviourModel, names: Iterable[str]) -> BehaviourModel:
    """Remove actions, censoring them out of every class's chain (see the module docstring)."""
    names = list(dict.fromkeys(names))
    unknown = [n for n in names if n not in model.actions]
    if unknown:
        raise ConfigError([f"no action {n!r} in the model" for n in unknown])
    if len(names) >= len(model.actions):
        raise ConfigError("dropping every action leaves nothing to simulate")
    dropped = {model.actions.index(n) for n in names}
    classes = [_censor(c, sorted(dropped)) for c in model.classes]
    keep = [i for i in range(len(model.actions)) if i not in dropped]
    mapping = {old: new for new, old in enumerate(keep)}
    classes = [_reindex(c, keep, mapping) for c in classes]
    return _with(model, f"drop {', '.join(names)}", actions=[model.actions[i] for i in keep],
                 action_stats=[model.action_stats[i] for i in keep], classes=classes)


def rename_actions(model: BehaviourModel, renames: Mapping[str, str]) -> BehaviourModel:
    """Rename actions; a new name that already exists merges the two actions."""
    unknown = [old for old in renames if old not in model.actions]
    empty = [old for old, new in renames.items() if not str(new).strip()]
    if unknown or empty:
        raise ConfigError([f"no action {n!r} in the model" for n in unknown]
                          + [f"new name for {n!r} is empty" for n in empty])
    targets = [renames.get(name, name) for name in model.actions]
    names = list(dict.fromkeys(targets))
    code = np.array([names.index(t) for t in targets])
    n, b = len(model.actions), len(names)
    merge = np.zeros((n + 1, b + 1))                   # old state (+ EXIT) → new state (+ EXIT)
    merge[np.arange(n), code] = 1.0
    merge[n, b] = 1.0
    classes = []
    for c in model.classes:
        transitions = merge[:n, :b].T @ c.transition_counts @ merge     # b × (b + 1)
        classes.append(dataclasses.replace(
            c,
            start_counts=c.start_counts @ merge[:n, :b],
            transition_counts=transitions,
            think_action=_merge_keys(c.think_action, code),
            think_transition=_merge_pairs(c.think_transition, code),
        ))
    stats = [_merged_stats(names[k], [s for s, t in zip(model.action_stats, code, strict=True) if t == k])
             for k in range(b)]
    described = ", ".join(f"{old} → {new}" for old, new in renames.items())
    return _with(model, f"rename {described}", actions=names, action_stats=stats, classes=classes)


def _rename_classes(model: BehaviourModel, names: Mapping[str | int, str]) -> BehaviourModel:
    problems: list[str] = []
    classes = list(model.classes)
    for key, name in names.items():
        index = _class_index(model, key, problems)
        if index is not None:
            classes[index] = dataclasses.replace(classes[index], name=str(name))
    if len({c.name for c in classes}) < len(classes):
        problems.append("class names must stay unique")
    if problems:
        raise ConfigError(problems)
    return _with(model, "rename classes", classes=classes)


def _class_index(model: BehaviourModel, key: str | int, problems: list[str]) -> int | None:
    names = [c.name for c in model.classes]
    if isinstance(key, int) or (isinstance(key, str) and key.isdigit() and key not in names):
        index = int(key)
        if 0 <= index < len(names):
            return index
    elif key in names:
        return names.index(key)
    problems.append(f"no class {key!r} (classes: {', '.join(names)})")
    return None


def _with(model: BehaviourModel, description: str, **changes) -> BehaviourModel:
    source = dict(model.source)
    source["edits"] = [*source.get("edits", []), description]
    return dataclasses.replace(model, source=source, **changes)


def _censor(c: UserClass, dropped: list[int]) -> UserClass:
    """Route every path through each dropped action around it, keeping the mass it carried."""
    a = len(c.start_counts)
    counts = np.zeros((a + 1, a + 1))                 # row/col a: START / EXIT
    counts[:a] = c.transition_counts
    counts[a, :a] = c.start_counts
    for d in dropped:
        out = counts[d].copy()
        out[d] = 0.0                                  # loops on d collapse into one visit
        total = out.sum()
        if total > 0:
            leaving = out / total                     # where a visit to d goes once it stops looping
            counts += np.outer(counts[:, d], leaving)
        counts[:, d] = 0.0
        counts[d] = 0.0
    counts[a, a] = 0.0                                # sessions made only of dropped actions vanish
    return dataclasses.replace(c, start_counts=counts[a, :a].copy(), transition_counts=counts[:a].copy())


def _reindex(c: UserClass, keep: list[int], mapping: dict[int, int]) -> UserClass:
    columns = [*keep, len(c.start_counts)]            # keep EXIT
    return dataclasses.replace(
        c,
        start_counts=c.start_counts[keep],
        transition_counts=c.transition_counts[np.ix_(keep, columns)],
        think_action={mapping[i]: d for i, d in c.think_action.items() if i in mapping},
        think_transition={(mapping[i], mapping[j]): d for (i, j), d in c.think_transition.items()
                          if i in mapping and j in mapping},
    )


def _merge_keys(by_action: dict[int, Duration], code: np.ndarray) -> dict[int, Duration]:
    merged: dict[int, Duration] = {}
    for i, dist in by_action.items():
        k = int(code[i])
        if k not in merged or dist.n > merged[k].n:     # keep the law with the most evidence
            merged[k] = dist
    return merged


def _merge_pairs(pairs: dict[tuple[int, int], Duration], code: np.ndarray) -> dict[tuple[int, int], Duration]:
    merged: dict[tuple[int, int], Duration] = {}
    for (i, j), dist in pairs.items():
        key = (int(code[i]), int(code[j]))
        if key not in merged or dist.n > merged[key].n:
            merged[key] = dist
    return merged


def _merged_stats(name: str, parts: list[ActionStats]) -> ActionStats:
    if len(parts) == 1:
        return dataclasses.replace(parts[0], name=name)
    count = sum(p.count for p in parts)
    richest = max(parts, key=lambda p: p.count)
    paths = tuple(dict.fromkeys(p for part in parts for p in part.paths))
    return dataclasses.replace(
        richest, name=name, count=count,
        error_rate=sum(p.error_rate * p.count for p in parts) / max(count, 1),
        paths=paths[: max(len(p.paths) for p in parts)],
    )
