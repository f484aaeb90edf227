-- Notification service (Django app `notifications`): templates, the notifications sent to
-- users on each channel, and users' preferences per category and channel.

CREATE FUNCTION set_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- An explicit updated_at (imports, backfills) is kept; otherwise it is the statement's time.
    IF NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at THEN
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END;
$$;

CREATE TABLE notifications_notificationtemplate (
    id                integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code              varchar(100) NOT NULL,
    channel           varchar(10) NOT NULL,
    locale            varchar(5) NOT NULL DEFAULT 'en',
    version           integer NOT NULL DEFAULT 1,
    subject_template  varchar(255),
    body_template     text NOT NULL,
    is_active         boolean NOT NULL DEFAULT true,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT notifications_notificationtemplate_key UNIQUE (code, channel, locale, version),
    CONSTRAINT notifications_notificationtemplate_channel_check CHECK (channel IN ('email', 'sms', 'push', 'in_app')),
    CONSTRAINT notifications_notificationtemplate_locale_check CHECK (locale IN ('en', 'sw')),
    CONSTRAINT notifications_notificationtemplate_subject_check CHECK (channel <> 'email' OR subject_template IS NOT NULL),
    CONSTRAINT notifications_notificationtemplate_sms_check CHECK (channel <> 'sms' OR length(body_template) <= 320)
);

-- One active version per template, channel and locale.
CREATE UNIQUE INDEX uq_notificationtemplate_active ON notifications_notificationtemplate (code, channel, locale)
    WHERE is_active;

CREATE TRIGGER notifications_notificationtemplate_set_updated_at
    BEFORE UPDATE ON notifications_notificationtemplate
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE notifications_notification (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id        uuid NOT NULL,                     -- auth_schema.authentication_user.id
    template_id    integer REFERENCES notifications_notificationtemplate (id) ON DELETE SET NULL,
    channel        varchar(10) NOT NULL,
    category       varchar(20) NOT NULL,
    title          varchar(255) NOT NULL,
    body           text NOT NULL,
    data           jsonb NOT NULL DEFAULT '{}',
    status         varchar(10) NOT NULL DEFAULT 'pending',
    priority       smallint NOT NULL DEFAULT 3,
    scheduled_for  timestamptz,
    sent_at        timestamptz,
    read_at        timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT notifications_notification_channel_check CHECK (channel IN ('email', 'sms', 'push', 'in_app')),
    CONSTRAINT notifications_notification_category_check
        CHECK (category IN ('application', 'internship', 'account', 'system', 'reminder')),
    CONSTRAINT notifications_notification_status_check
        CHECK (status IN ('pending', 'sent', 'delivered', 'failed', 'read')),
    CONSTRAINT notifications_notification_priority_check CHECK (priority BETWEEN 1 AND 5),
    CONSTRAINT notifications_notification_read_check CHECK ((status = 'read') = (read_at IS NOT NULL)),
    CONSTRAINT notifications_notification_sent_check
        CHECK (status IN ('pending', 'failed') OR sent_at IS NOT NULL)
);

-- Cross-schema index of seed 004: a user's notifications.
CREATE INDEX idx_notification_user ON notifications_notification (user_id);
CREATE INDEX idx_notification_due ON notifications_notification (scheduled_for)
    WHERE status = 'pending';

CREATE TABLE notifications_notificationpreference (
    user_id            uuid NOT NULL,                 -- auth_schema.authentication_user.id
    category           varchar(20) NOT NULL,
    channel            varchar(10) NOT NULL,
    is_enabled         boolean NOT NULL DEFAULT true,
    quiet_hours_start  time,
    quiet_hours_end    time,
    updated_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, category, channel),
    CONSTRAINT notifications_notificationpreference_category_check
        CHECK (category IN ('application', 'internship', 'account', 'system', 'reminder')),
    CONSTRAINT notifications_notificationpreference_channel_check
        CHECK (channel IN ('email', 'sms', 'push', 'in_app')),
    CONSTRAINT notifications_notificationpreference_quiet_check
        CHECK ((quiet_hours_start IS NULL) = (quiet_hours_end IS NULL)),
    -- Account and system messages (password resets…) cannot be switched off.
    CONSTRAINT notifications_notificationpreference_mandatory_check
        CHECK (is_enabled OR category NOT IN ('account', 'system'))
);

CREATE TRIGGER notifications_notificationpreference_set_updated_at
    BEFORE UPDATE ON notifications_notificationpreference
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
