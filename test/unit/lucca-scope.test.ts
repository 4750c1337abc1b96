import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { luccaScopesOverlap, normaliseLuccaScope, sameLuccaScope, type LuccaScope } from '../../lucca/scope';

const scope = (s: LuccaScope) => normaliseLuccaScope(s);

describe('two scopes of one tenant', () => {
  test('overlap when someone could be in both, now or after a move', () => {
    const cases: [string, LuccaScope, LuccaScope, boolean][] = [
      ['the whole tenant and any scope', {}, { legalEntityIds: [1] }, true],
      ['two entities', { legalEntityIds: [1] }, { legalEntityIds: [2] }, false],
      ['entities sharing one', { legalEntityIds: [1, 3] }, { legalEntityIds: [3, 2] }, true],
      ['an entity and a department (people of both)', { legalEntityIds: [1] }, { departmentIds: [11] }, true],
      [
        'one entity, two departments of it',
        { legalEntityIds: [1], departmentIds: [11] },
        { legalEntityIds: [1], departmentIds: [12] },
        false,
      ],
      [
        'other entities, same department',
        { legalEntityIds: [1], departmentIds: [11] },
        { legalEntityIds: [2], departmentIds: [11] },
        false,
      ],
      [
        'a department, and an entity with that department',
        { departmentIds: [11] },
        { legalEntityIds: [2], departmentIds: [11, 12] },
        true,
      ],
    ];
    for (const [what, a, b, overlap] of cases) {
      assert.equal(luccaScopesOverlap(scope(a), scope(b)), overlap, what);
      assert.equal(luccaScopesOverlap(scope(b), scope(a)), overlap, `${what}, the other way round`);
    }
  });

  test('are the same whatever the order, repeats, or how the whole tenant is said', () => {
    assert.ok(
      sameLuccaScope(scope({ legalEntityIds: [3, 1, 1] }), scope({ legalEntityIds: [1, 3], departmentIds: [] })),
    );
    assert.ok(sameLuccaScope(null, { legalEntityIds: [], departmentIds: [] }));
    assert.ok(!sameLuccaScope(scope({ legalEntityIds: [1] }), scope({ departmentIds: [1] })));
    assert.ok(!sameLuccaScope(scope({ legalEntityIds: [1] }), null));
  });
});
