// Names for the generated API types (schema.d.ts is generated from core's OpenAPI document).
import type { components, paths } from "./schema";

type Schemas = components["schemas"];

export type Paths = paths;
export type User = Schemas["UserOut"];
export type SignedIn = Schemas["SignedIn"];
export type Channel = Schemas["ChannelView"];
export type ChannelList = Schemas["ChannelList"];
export type QRData = Schemas["QRData"];
export type PairCode = Schemas["PairCodeData"];
export type Conversation = Schemas["ConversationOut"];
export type ConversationStatus = Schemas["ConversationStatus"];
export type ConversationPage = Schemas["ConversationPage"];
export type Message = Schemas["MessageOut"];
export type MessagePage = Schemas["MessagePage"];
export type MessageStatus = Schemas["MessageStatus"];
export type SendIn = Schemas["SendIn"];
export type Media = Schemas["MediaOut"];
export type Ticket = Schemas["TicketOut"];
export type ErrorBody = Schemas["ErrorBody"];
export type SuggestionOut = Schemas["SuggestionOut"];
export type Article = Schemas["ArticleOut"];
export type QuickReply = Schemas["QuickReplyOut"];
export type Snapshot = Schemas["MonitoringOut"];
export type ChannelMonitor = Schemas["ChannelMonitor"];
export type StateChange = Schemas["StateChange"];
export type GatewayStats = Schemas["GatewayStats"];
export type CoreStats = Schemas["CoreStats"];
export type Department = Schemas["DepartmentOut"];
export type DepartmentIn = Schemas["DepartmentIn"];
export type DepartmentPatch = Schemas["DepartmentPatch"];
export type AssignmentMode = Schemas["AssignmentMode"];
export type Queue = Schemas["QueueOut"];
export type Member = Schemas["MemberOut"];
export type Presence = Schemas["Status"];
export type Audit = Schemas["AuditOut"];
