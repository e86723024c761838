-- Squashed schema: pg_dump -s (PostgreSQL 18) of a freshly migrated database, plus the rows of the *_enum tables.
-- Written by dbtui; do not edit.

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

--
-- Name: app_private; Type: SCHEMA; Schema: -; Owner: -
--

CREATE SCHEMA app_private;


--
-- Name: citext; Type: EXTENSION; Schema: -; Owner: -
--

CREATE EXTENSION IF NOT EXISTS citext WITH SCHEMA public;


--
-- Name: EXTENSION citext; Type: COMMENT; Schema: -; Owner: -
--

COMMENT ON EXTENSION citext IS 'data type for case-insensitive character strings';


--
-- Name: forbid_customer_ddl(); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.forbid_customer_ddl() RETURNS event_trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF session_user = 'app_customer' THEN
        RAISE EXCEPTION 'permission denied: customer connections may not run %', tg_tag USING ERRCODE = 'insufficient_privilege';
    END IF;
END;
$$;


SET default_table_access_method = heap;

--
-- Name: identity_secret; Type: TABLE; Schema: app_private; Owner: -
--

CREATE TABLE app_private.identity_secret (
    secret text NOT NULL
);


--
-- Name: seal(text, text); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.seal(user_id text, organization_id text) RETURNS text
    LANGUAGE sql STABLE
    RETURN (SELECT encode(sha256(convert_to(((((((((((((s.secret || chr(31)) || 'seal'::text) || chr(31)) || seal.user_id) || chr(31)) || seal.organization_id) || chr(31)) || pg_backend_pid()) || chr(31)) || ((EXTRACT(epoch FROM transaction_timestamp()) * (1000000)::numeric))::bigint) || chr(31)) || s.secret), 'UTF8'::name)), 'hex'::text) AS encode FROM app_private.identity_secret s);


--
-- Name: identity_valid(); Type: FUNCTION; Schema: app_private; Owner: -
--

CREATE FUNCTION app_private.identity_valid() RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO 'app_private', 'pg_catalog'
    RETURN COALESCE((current_setting('app.identity_sig'::text, true) = app_private.seal(current_setting('app.user_id'::text, true), current_setting('app.organization_id'::text, true))), false);


--
-- Name: app_identity_seal(text, text, bigint, text); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.app_identity_seal(user_id text, organization_id text, issued_at bigint, proof text) RETURNS text
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'app_private', 'pg_catalog'
    AS $$
DECLARE
    secret TEXT := (SELECT s.secret FROM app_private.identity_secret s);
BEGIN
    IF proof IS DISTINCT FROM encode(sha256(convert_to(
            secret || chr(31) || 'proof' || chr(31) || user_id || chr(31) || organization_id || chr(31) || issued_at
            || chr(31) || secret, 'UTF8')), 'hex')
       OR abs(extract(epoch FROM now()) - issued_at) > 300 THEN
        RAISE EXCEPTION 'invalid or expired customer identity proof' USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN app_private.seal(user_id, organization_id);
END;
$$;


--
-- Name: app_organization_id(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.app_organization_id() RETURNS text
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO 'app_private', 'pg_catalog'
    RETURN CASE WHEN app_private.identity_valid() THEN NULLIF(current_setting('app.organization_id'::text, true), ''::text) ELSE NULL::text END;


--
-- Name: app_user_id(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.app_user_id() RETURNS text
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO 'app_private', 'pg_catalog'
    RETURN CASE WHEN app_private.identity_valid() THEN NULLIF(current_setting('app.user_id'::text, true), ''::text) ELSE NULL::text END;


--
-- Name: generate_id(text); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.generate_id(prefix text) RETURNS text
    LANGUAGE sql PARALLEL SAFE
    RETURN ((prefix || '_'::text) || translate(encode(uuid_send(gen_random_uuid()), 'base64'::text), '+/='::text, '-_'::text));


--
-- Name: memberships; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.memberships (
    id text DEFAULT public.generate_id('mem'::text) NOT NULL COLLATE pg_catalog."C",
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    storytime jsonb,
    organization_id text NOT NULL COLLATE pg_catalog."C",
    user_id text NOT NULL COLLATE pg_catalog."C",
    role text DEFAULT 'member'::text NOT NULL,
    CONSTRAINT memberships_id_check CHECK ((id ~~ 'mem_%'::text))
);


--
-- Name: app_is_member(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.app_is_member() RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO 'public', 'pg_temp'
    RETURN (EXISTS (SELECT 1 FROM public.memberships WHERE ((memberships.user_id = public.app_user_id()) AND (memberships.organization_id = public.app_organization_id()))));


--
-- Name: updated_at(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.updated_at() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    NEW.updated_at = now();
    RETURN NEW;
END;
$$;


--
-- Name: membership_role_enum; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.membership_role_enum (
    value text NOT NULL
);


--
-- Name: organizations; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.organizations (
    id text DEFAULT public.generate_id('org'::text) NOT NULL COLLATE pg_catalog."C",
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    storytime jsonb,
    name text NOT NULL,
    billing_extid text COLLATE pg_catalog."C",
    CONSTRAINT organizations_id_check CHECK ((id ~~ 'org_%'::text))
);


--
-- Name: project_status_enum; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.project_status_enum (
    value text NOT NULL
);


--
-- Name: projects; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.projects (
    id text DEFAULT public.generate_id('prj'::text) NOT NULL COLLATE pg_catalog."C",
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    storytime jsonb,
    organization_id text NOT NULL COLLATE pg_catalog."C",
    name text NOT NULL,
    status text DEFAULT 'active'::text NOT NULL,
    owner_id text COLLATE pg_catalog."C",
    due_on date,
    budget numeric(12,2),
    task_count bigint DEFAULT 0 NOT NULL,
    repository_extid text COLLATE pg_catalog."C",
    CONSTRAINT projects_id_check CHECK ((id ~~ 'prj_%'::text))
);


--
-- Name: users; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.users (
    id text DEFAULT public.generate_id('usr'::text) NOT NULL COLLATE pg_catalog."C",
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    storytime jsonb,
    email public.citext NOT NULL,
    name text NOT NULL,
    auth_extid text COLLATE pg_catalog."C",
    CONSTRAINT users_id_check CHECK ((id ~~ 'usr_%'::text))
);


--
-- Name: membership_role_enum membership_role_enum_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.membership_role_enum
    ADD CONSTRAINT membership_role_enum_pkey PRIMARY KEY (value);


--
-- Name: memberships memberships_organization_id_user_id_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.memberships
    ADD CONSTRAINT memberships_organization_id_user_id_key UNIQUE (organization_id, user_id);


--
-- Name: memberships memberships_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.memberships
    ADD CONSTRAINT memberships_pkey PRIMARY KEY (id);


--
-- Name: organizations organizations_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.organizations
    ADD CONSTRAINT organizations_pkey PRIMARY KEY (id);


--
-- Name: project_status_enum project_status_enum_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.project_status_enum
    ADD CONSTRAINT project_status_enum_pkey PRIMARY KEY (value);


--
-- Name: projects projects_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.projects
    ADD CONSTRAINT projects_pkey PRIMARY KEY (id);


--
-- Name: users users_email_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.users
    ADD CONSTRAINT users_email_key UNIQUE (email);


--
-- Name: users users_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.users
    ADD CONSTRAINT users_pkey PRIMARY KEY (id);


--
-- Name: memberships_role_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX memberships_role_idx ON public.memberships USING btree (role);


--
-- Name: memberships_user_id_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX memberships_user_id_idx ON public.memberships USING btree (user_id);


--
-- Name: projects_organization_id_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX projects_organization_id_idx ON public.projects USING btree (organization_id);


--
-- Name: projects_owner_id_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX projects_owner_id_idx ON public.projects USING btree (owner_id);


--
-- Name: projects_status_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX projects_status_idx ON public.projects USING btree (status);


--
-- Name: memberships updated_at; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER updated_at BEFORE UPDATE ON public.memberships FOR EACH ROW EXECUTE FUNCTION public.updated_at();


--
-- Name: organizations updated_at; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER updated_at BEFORE UPDATE ON public.organizations FOR EACH ROW EXECUTE FUNCTION public.updated_at();


--
-- Name: projects updated_at; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER updated_at BEFORE UPDATE ON public.projects FOR EACH ROW EXECUTE FUNCTION public.updated_at();


--
-- Name: users updated_at; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER updated_at BEFORE UPDATE ON public.users FOR EACH ROW EXECUTE FUNCTION public.updated_at();


--
-- Name: memberships memberships_organization_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.memberships
    ADD CONSTRAINT memberships_organization_id_fkey FOREIGN KEY (organization_id) REFERENCES public.organizations(id) ON DELETE CASCADE;


--
-- Name: memberships memberships_role_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.memberships
    ADD CONSTRAINT memberships_role_fkey FOREIGN KEY (role) REFERENCES public.membership_role_enum(value);


--
-- Name: memberships memberships_user_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.memberships
    ADD CONSTRAINT memberships_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.users(id) ON DELETE CASCADE;


--
-- Name: projects projects_organization_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.projects
    ADD CONSTRAINT projects_organization_id_fkey FOREIGN KEY (organization_id) REFERENCES public.organizations(id) ON DELETE CASCADE;


--
-- Name: projects projects_owner_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.projects
    ADD CONSTRAINT projects_owner_id_fkey FOREIGN KEY (owner_id) REFERENCES public.users(id) ON DELETE SET NULL;


--
-- Name: projects projects_status_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.projects
    ADD CONSTRAINT projects_status_fkey FOREIGN KEY (status) REFERENCES public.project_status_enum(value);


--
-- Name: memberships customer_access; Type: POLICY; Schema: public; Owner: -
--

CREATE POLICY customer_access ON public.memberships TO app_customer USING (((organization_id = ( SELECT public.app_organization_id() AS app_organization_id)) AND ( SELECT public.app_is_member() AS app_is_member)));


--
-- Name: organizations customer_access; Type: POLICY; Schema: public; Owner: -
--

CREATE POLICY customer_access ON public.organizations TO app_customer USING (((id = ( SELECT public.app_organization_id() AS app_organization_id)) AND ( SELECT public.app_is_member() AS app_is_member)));


--
-- Name: projects customer_access; Type: POLICY; Schema: public; Owner: -
--

CREATE POLICY customer_access ON public.projects TO app_customer USING (((organization_id = ( SELECT public.app_organization_id() AS app_organization_id)) AND ( SELECT public.app_is_member() AS app_is_member)));


--
-- Name: users customer_read; Type: POLICY; Schema: public; Owner: -
--

CREATE POLICY customer_read ON public.users FOR SELECT TO app_customer USING ((( SELECT public.app_is_member() AS app_is_member) AND (EXISTS ( SELECT 1
   FROM public.memberships m
  WHERE ((m.user_id = users.id) AND (m.organization_id = ( SELECT public.app_organization_id() AS app_organization_id)))))));


--
-- Name: users customer_update_self; Type: POLICY; Schema: public; Owner: -
--

CREATE POLICY customer_update_self ON public.users FOR UPDATE TO app_customer USING (((id = ( SELECT public.app_user_id() AS app_user_id)) AND ( SELECT public.app_is_member() AS app_is_member)));


--
-- Name: memberships; Type: ROW SECURITY; Schema: public; Owner: -
--

ALTER TABLE public.memberships ENABLE ROW LEVEL SECURITY;

--
-- Name: organizations; Type: ROW SECURITY; Schema: public; Owner: -
--

ALTER TABLE public.organizations ENABLE ROW LEVEL SECURITY;

--
-- Name: projects; Type: ROW SECURITY; Schema: public; Owner: -
--

ALTER TABLE public.projects ENABLE ROW LEVEL SECURITY;

--
-- Name: users; Type: ROW SECURITY; Schema: public; Owner: -
--

ALTER TABLE public.users ENABLE ROW LEVEL SECURITY;

--
-- Name: forbid_customer_ddl; Type: EVENT TRIGGER; Schema: -; Owner: -
--

CREATE EVENT TRIGGER forbid_customer_ddl ON ddl_command_start
   EXECUTE FUNCTION app_private.forbid_customer_ddl();

INSERT INTO "public"."membership_role_enum" ("value") VALUES
    ('admin'),
    ('member'),
    ('owner');

INSERT INTO "public"."project_status_enum" ("value") VALUES
    ('active'),
    ('archived'),
    ('paused');
