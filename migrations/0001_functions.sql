-- Helpers every table uses: random prefixed ids and the updated_at trigger function.
-- generate_id('org') gives 'org_' and 22 URL-safe characters from gen_random_uuid() (core; no pgcrypto needed).

CREATE EXTENSION IF NOT EXISTS citext;

CREATE FUNCTION generate_id(prefix TEXT) RETURNS TEXT
    LANGUAGE sql VOLATILE PARALLEL SAFE
    RETURN prefix || '_' || translate(encode(uuid_send(gen_random_uuid()), 'base64'), '+/=', '-_');

CREATE FUNCTION updated_at() RETURNS TRIGGER
    LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at = now();
    RETURN NEW;
END;
$$;
