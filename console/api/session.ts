import type { FastifyInstance } from 'fastify';
import type { ConsoleContext } from '../context';

export function registerSessionRoutes(api: FastifyInstance, ctx: ConsoleContext): void {
  api.get(
    '/session',
    {
      schema: {
        tags: ['session'],
        summary: 'The logged-in admin, their role (a viewer may not act) and a CSRF token for state-changing calls',
        response: {
          200: {
            type: 'object',
            properties: {
              user: { type: 'string' },
              role: { type: 'string', enum: ['viewer', 'operator'] },
              csrfToken: { type: 'string' },
            },
          },
        },
      },
    },
    async (request, reply) => ({
      user: request.session.user,
      role: request.session.role,
      csrfToken: ctx.csrfToken(request, reply),
    }),
  );
}
