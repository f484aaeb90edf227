-- Each hand-off to a provider (SendGrid, Africa's Talking SMS, Firebase push) and what it
-- answered, so failed deliveries can be retried and bounces investigated.
CREATE TABLE notifications_deliveryattempt (
    id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    notification_id      uuid NOT NULL REFERENCES notifications_notification (id) ON DELETE CASCADE,
    attempt              smallint NOT NULL,
    provider             varchar(20) NOT NULL,
    provider_message_id  varchar(100),
    status               varchar(10) NOT NULL,
    error                text,
    attempted_at         timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT notifications_deliveryattempt_key UNIQUE (notification_id, attempt),
    CONSTRAINT notifications_deliveryattempt_attempt_check CHECK (attempt BETWEEN 1 AND 10),
    CONSTRAINT notifications_deliveryattempt_provider_check
        CHECK (provider IN ('sendgrid', 'africastalking', 'fcm', 'internal')),
    CONSTRAINT notifications_deliveryattempt_status_check
        CHECK (status IN ('accepted', 'delivered', 'bounced', 'failed')),
    CONSTRAINT notifications_deliveryattempt_error_check CHECK (status IN ('accepted', 'delivered') OR error IS NOT NULL)
);

CREATE INDEX idx_deliveryattempt_provider_message ON notifications_deliveryattempt (provider, provider_message_id)
    WHERE provider_message_id IS NOT NULL;
