-- The platform operator revokes a key by its id alone, before its tenant is known: this one
-- function, owned by the owner role (which reads api_keys through the resolve_api_key policy),
-- answers which tenant a key belongs to and nothing else.
CREATE FUNCTION api_key_tenant(key_id uuid) RETURNS uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT tenant_id FROM public.api_keys WHERE id = key_id
$$;

REVOKE ALL ON FUNCTION api_key_tenant(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api_key_tenant(uuid) TO switchyard_app;
