DROP TABLE webhook_deliveries;
DROP TABLE webhooks;
DROP TABLE feed_keys;
DROP TABLE changes;
