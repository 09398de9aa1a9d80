-- The platform's tenant-scoped tables. Every row belongs to one org; links
-- between rows are composite foreign keys on (org_id, id), so a row can
-- never point at another org's row, whatever the application does.

CREATE TABLE contacts (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id          uuid NOT NULL,
    type            text NOT NULL DEFAULT 'contact'
                    CHECK (type IN ('contact', 'client', 'lead', 'vendor', 'partner')),
    status          text NOT NULL DEFAULT 'active'
                    CHECK (status IN ('active', 'inactive', 'archived')),
    first_name      varchar(100),
    last_name       varchar(100),
    email           varchar(254),
    phone           varchar(32),
    company         varchar(200),
    custom_fields   jsonb NOT NULL DEFAULT '{}',
    pipeline_stage  varchar(50),
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, id)
);
CREATE INDEX contacts_org_email ON contacts (org_id, lower(email));

CREATE TABLE task_boards (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id      uuid NOT NULL,
    name        varchar(200) NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, id)
);

CREATE TABLE task_columns (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id      uuid NOT NULL,
    board_id    uuid NOT NULL,
    name        varchar(100) NOT NULL,
    position    integer NOT NULL DEFAULT 0,
    UNIQUE (org_id, id),
    FOREIGN KEY (org_id, board_id) REFERENCES task_boards (org_id, id) ON DELETE CASCADE
);

CREATE TABLE tasks (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id          uuid NOT NULL,
    board_id        uuid,
    column_id       uuid,
    contact_id      uuid,
    title           varchar(500) NOT NULL,
    description     text,
    status          text NOT NULL DEFAULT 'open'
                    CHECK (status IN ('open', 'in_progress', 'done', 'cancelled')),
    priority        text NOT NULL DEFAULT 'normal'
                    CHECK (priority IN ('low', 'normal', 'high', 'urgent')),
    due_date        date,
    assignee_email  varchar(254),
    custom_fields   jsonb NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL DEFAULT now(),
    completed_at    timestamptz,
    UNIQUE (org_id, id),
    FOREIGN KEY (org_id, board_id) REFERENCES task_boards (org_id, id),
    FOREIGN KEY (org_id, column_id) REFERENCES task_columns (org_id, id),
    FOREIGN KEY (org_id, contact_id) REFERENCES contacts (org_id, id)
);

CREATE TABLE documents (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id          uuid NOT NULL,
    contact_id      uuid,
    title           varchar(500) NOT NULL,
    file_name       varchar(255),
    mime_type       varchar(255),
    size_bytes      bigint CHECK (size_bytes >= 0),
    storage_key     text,
    custom_fields   jsonb NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, id),
    FOREIGN KEY (org_id, contact_id) REFERENCES contacts (org_id, id)
);

CREATE TABLE document_revisions (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id          uuid NOT NULL,
    document_id     uuid NOT NULL,
    revision        integer NOT NULL CHECK (revision > 0),
    storage_key     text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, id),
    UNIQUE (document_id, revision),
    FOREIGN KEY (org_id, document_id) REFERENCES documents (org_id, id) ON DELETE CASCADE
);

CREATE TABLE entity_links (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id       uuid NOT NULL,
    from_entity  text NOT NULL CHECK (from_entity IN ('contacts', 'tasks', 'documents')),
    from_id      uuid NOT NULL,
    to_entity    text NOT NULL CHECK (to_entity IN ('contacts', 'tasks', 'documents')),
    to_id        uuid NOT NULL,
    relation     varchar(50) NOT NULL DEFAULT 'related',
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, from_entity, from_id, to_entity, to_id, relation)
);
