import type { FastifyInstance } from 'fastify';
import type { ConsoleContext } from '../context';
import { registerAuditRoutes } from './audit';
import { registerCompanyActionRoutes, registerCompanyRoutes } from './companies';
import { registerProfileRoutes } from './profiles';
import { registerRunRoutes } from './runs';
import { registerSessionRoutes } from './session';

/*
 * The JSON API behind the pages, under /api. Every response goes through its schema (see
 * ../schemas), so only the listed properties leave the server; /api/openapi.json is generated
 * from the same schemas, its paths in the order registered here.
 */
export async function registerApiRoutes(api: FastifyInstance, ctx: ConsoleContext): Promise<void> {
  registerSessionRoutes(api, ctx);
  registerCompanyRoutes(api, ctx);
  registerRunRoutes(api, ctx);
  registerProfileRoutes(api, ctx);
  registerAuditRoutes(api, ctx);
  registerCompanyActionRoutes(api, ctx);
}
