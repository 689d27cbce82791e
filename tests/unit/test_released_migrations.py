"""A released migration never changes: its checksum is pinned here.

``db migrate`` refuses to run against a database where an applied file's
sha256 differs from the file (ChecksumMismatch), so editing a released
file breaks every database migrated before the edit. This test makes the
edit fail in CI instead. A change to the schema comes as a new numbered
file (with ``_v2`` functions beside the old ones where a signature
changes; see docs/migration_guide.md).

Releasing a migration: add its line to ``RELEASED`` (``python -c "from
tasks.migrate import discover; [print(m.version, m.sha256) for m in
discover()]"`` prints them). Files above the highest pinned version are
unreleased work and may still change.
"""

from __future__ import annotations

from tasks.migrate import discover

RELEASED: dict[tuple[int, str], str] = {
    (0, "app_prerequisites"): "7d6dddc5f2db01bc3b0d35b32aac36b3f3268764d0295ec974e99cf3072ae140",
    (1, "initial_schema"): "2703d1bc475bbfc3d86dda0e4a2c167a601f7e921838f179269cb5ad64394e3e",
    (2, "bridge"): "26e69802fafc47b23eb63486a84f4ef82b92d1e3da0bd781db646c3c32c76ee2",
    (3, "meal_planner"): "477a25fe231a55e860ef58bd8b5716e1c968128cea1a2657fb3577c9c4e207cd",
    (4, "roles"): "c6eedf4429ae73c4f947fabe44083989e489f0056643277fdfd5e695e4d57520",
    (5, "workers"): "50dd9e394b5ffbba14213d585a177e7a9784ed61de23910e2c6b727860a12c6b",
    (6, "security"): "0f835f9ced1b7b263fed907cf95ef8935bd460904dd392ef1f92464c2c1611f2",
    (7, "dashboard"): "cf0f29efeb58d39b5fa7e7cb627ef760ace211e0ab23584be8dc8ab857f7b6a6",
    (8, "autovacuum"): "c7843266a6bfbde06853377874b30d1711aa9a092839785cb1f94f91d5ea1f02",
    (9, "reliability"): "69d8391f2cd78b63bae2e113a9ca8c2a33a4ef224c25e00f73532f6f85b1acc8",
    (10, "start_plan"): "181adeb3e9e8aebee42f790492d0e7a05773d1ae6aeba33dd057c0259d1a40a8",
    (11, "clock_role"): "8f98c994b258db2d084546e6576aacce4adfeaddee6948069c9bd3babfe85fe5",
    (12, "claim_headroom"): "0473916dd23c2c138901530b871f655666f7b0a7aaf798ac4026b5f5a7fb292d",
    (13, "lean_complete"): "c3a53e77537d6ffa203a6283cacf784f0e1c92c225f34edec698e7848ddfdc3b",
}


def test_released_migrations_never_change() -> None:
    found = {(m.version, m.name): m.sha256 for m in discover()}
    for key, sha256 in RELEASED.items():
        assert key in found, f"released migration {key} was renamed or removed"
        assert found[key] == sha256, (
            f"released migration {key[0]:03d}_{key[1]} was edited; restore it and put the "
            "change in a new numbered file"
        )


def test_no_migration_is_inserted_below_a_released_one() -> None:
    newest = max(version for version, _ in RELEASED)
    unpinned = [(m.version, m.name) for m in discover() if (m.version, m.name) not in RELEASED]
    assert all(version > newest for version, _ in unpinned), unpinned
