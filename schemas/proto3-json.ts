/**
 * Bodies in proto3 JSON's naming, as Google's APIs read them: a field may be given under its
 * JSON name (lowerCamelCase, `binaryData`) or under its proto name (snake_case, `binary_data`).
 * Given under both, one would silently win over the other; Google's parsers refuse such a body,
 * and so do these schemas, naming both paths, whether or not the values agree.
 * @see https://protobuf.dev/programming-guides/json/ ("Parsers accept both the lowerCamelCase name … and the original proto field name")
 */
import { z } from 'zod';

/** The JSON name of a proto field name: `version_to_update` → `versionToUpdate`. */
export const jsonName = (protoName: string): string => protoName.replace(/_([a-z0-9])/g, (_, letter: string) => letter.toUpperCase());

/** The fields these keys hold under both names, as [JSON name, proto name]. */
export function fieldsWithTwoNames(keys: readonly string[]): [string, string][] {
  return keys.filter((key) => jsonName(key) !== key && keys.includes(jsonName(key))).map((key) => [jsonName(key), key]);
}

/**
 * `object`, refusing a body that gives one of its fields under both names: an issue at each
 * name. The OpenAPI document says the same (`not: {required: [both]}`).
 */
export function eachFieldOnce<T extends z.ZodObject>(object: T): T {
  const pairs = fieldsWithTwoNames(Object.keys(object.shape));
  return object
    .check(
      z.superRefine(
        (value: object, ctx) => {
          for (const [json, proto] of pairs) {
            if (!Object.hasOwn(value, json) || !Object.hasOwn(value, proto)) continue;
            const message = `${json} and ${proto} are one field given twice; give only one`;
            ctx.addIssue({ code: 'custom', path: [json], message });
            ctx.addIssue({ code: 'custom', path: [proto], message });
          }
        },
        // Also when another field failed, so that every issue is named at once.
        { when: (payload) => typeof payload.value === 'object' && payload.value !== null },
      ),
    )
    .meta(pairs.length > 0 ? { allOf: pairs.map((pair) => ({ not: { required: pair } })) } : {});
}
