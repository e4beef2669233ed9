DROP TABLE phone_numbers;
DROP TABLE prospects;
DROP TABLE api_tokens;
DROP TABLE users;
