-- Roles per platform (issue 14, parts 4 and 5): groups of users, and grants that give a user or
-- a group a role over all platforms or over those a selector matches. Kept alike in
-- migrations/sqlite and migrations/postgres.
--
-- users.role stays the user's own fleet-wide role; from this version it may also be 'none' (the
-- user holds only what grants give). Existing users keep their role unchanged.

-- `source` says who manages a group's members: 'local' (the API and the web UI), or a sign-in
-- provider ('ldap', 'oidc:<provider>') that sets its users' memberships when they sign in.
-- Names are unique per source whatever their case.
CREATE TABLE user_groups (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    source     TEXT NOT NULL DEFAULT 'local',
    created_at TEXT NOT NULL
);
CREATE UNIQUE INDEX user_groups_source_name ON user_groups (source, lower(name));

CREATE TABLE group_members (
    group_id   TEXT NOT NULL REFERENCES user_groups (id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_members_user ON group_members (user_id);

-- A grant: exactly one subject (a user or a group), a role, and a scope: the canonical text of
-- a selector ('all' for every platform), evaluated on each platform's facts when it is used.
CREATE TABLE grants (
    id         TEXT PRIMARY KEY,
    user_id    TEXT REFERENCES users (id) ON DELETE CASCADE,
    group_id   TEXT REFERENCES user_groups (id) ON DELETE CASCADE,
    role       TEXT NOT NULL,
    selector   TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    CHECK ((user_id IS NULL) <> (group_id IS NULL))
);
CREATE UNIQUE INDEX grants_user_role_scope ON grants (user_id, role, selector)
    WHERE user_id IS NOT NULL;
CREATE UNIQUE INDEX grants_group_role_scope ON grants (group_id, role, selector)
    WHERE group_id IS NOT NULL;
CREATE INDEX grants_created ON grants (created_at, id);
