import type { FastifyInstance } from 'fastify';

export function registerSessionRoutes(api: FastifyInstance): void {
  api.get(
    '/session',
    {
      schema: {
        tags: ['session'],
        summary: 'The logged-in admin and a CSRF token for state-changing calls',
        response: { 200: { type: 'object', properties: { user: { type: 'string' }, csrfToken: { type: 'string' } } } },
      },
    },
    async (request, reply) => ({ user: request.session.user, csrfToken: reply.generateCsrf() }),
  );
}
