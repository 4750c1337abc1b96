import type { FastifyInstance } from 'fastify';
import type { ConsoleContext } from '../context';
import { registerAlertPages } from './alerts';
import { registerAuditPages } from './audit';
import { registerAuthPages } from './auth';
import { registerCompanyPages } from './companies';
import { registerFieldPages } from './fields';
import { registerIntegrationPages } from './integration';
import { registerProfilePages } from './profiles';
import { registerRunPages } from './runs';
import { registerScopePages } from './scope';

/** The console's HTML pages and their forms; every path parameter is validated (invalid → 404). */
export function registerPageRoutes(app: FastifyInstance, ctx: ConsoleContext): void {
  registerAuthPages(app, ctx);
  registerCompanyPages(app, ctx);
  registerIntegrationPages(app, ctx);
  registerScopePages(app, ctx);
  registerFieldPages(app, ctx);
  registerAlertPages(app, ctx);
  registerRunPages(app, ctx);
  registerProfilePages(app, ctx);
  registerAuditPages(app, ctx);
}
