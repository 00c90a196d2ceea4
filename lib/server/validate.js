// Schema validation for `live.validated`: any Standard Schema (Zod >= 3.24, Valibot >= 1,
// ArkType, ...), plus the older Zod (`safeParse`) and Valibot (`_run`) interfaces.
// Issues are normalized to `[{ path: (string | number)[], message }]`.

/** @typedef {{ path: Array<string | number>, message: string }} Issue */

function pathOf(path) {
  if (!Array.isArray(path)) return [];
  return path.map((segment) =>
    segment && typeof segment === 'object' && 'key' in segment ? segment.key : segment,
  ).map((segment) => (typeof segment === 'symbol' ? String(segment) : segment));
}

function normalize(issues) {
  return (issues ?? []).map((issue) => ({
    path: pathOf(issue.path),
    message: String(issue.message ?? 'Invalid value'),
  }));
}

/**
 * Returns a validator `(value) => Promise<{ value } | { issues }>` for `schema`, or throws a
 * TypeError at definition time when the schema is of no known kind (silently skipping
 * validation would be a security hole).
 */
export function validatorFor(schema) {
  const standard = schema?.['~standard'];
  if (standard && typeof standard.validate === 'function') {
    return async (value) => {
      const result = await standard.validate(value);
      return result.issues ? { issues: normalize(result.issues) } : { value: result.value };
    };
  }
  if (schema && typeof schema.safeParseAsync === 'function') {
    return async (value) => {
      const result = await schema.safeParseAsync(value);
      return result.success ? { value: result.data } : { issues: normalize(result.error?.issues) };
    };
  }
  if (schema && typeof schema.safeParse === 'function') {
    return async (value) => {
      const result = schema.safeParse(value);
      return result.success ? { value: result.data } : { issues: normalize(result.error?.issues) };
    };
  }
  if (schema && typeof schema._run === 'function') {
    return async (value) => {
      const result = await schema._run({ typed: false, value }, {});
      return result.issues?.length ? { issues: normalize(result.issues) } : { value: result.value };
    };
  }
  throw new TypeError(
    'live.validated(schema, fn): schema must be a Standard Schema, a Zod or a Valibot schema',
  );
}
